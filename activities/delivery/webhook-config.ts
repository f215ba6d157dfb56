/**
 * A webhook as a policy names it (docs/alerts.md#secrets): its URL literally (`url`) or by
 * environment variable (`url_from_env`), harmless headers literally (`headers`) and the ones
 * that carry credentials by environment variable (`headers_from_env`). The worker reads the
 * variables when it sends, so a secret never enters the database, a workflow's history, a log
 * line or the Web UI. A literal credential is refused when a policy is stored; one stored
 * before that is still sent, and always shown redacted.
 */
import { z } from 'zod';
import { redactUrl } from './webhook';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** An HTTP token (RFC 9110), as a header name must be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Header names whose values are credentials: never literal in a policy, never shown. */
const CREDENTIAL_HEADER = /auth|cookie|token|secret|key|passw|credential|session|signature/i;
/** A literal value that is a credential whatever its header is called. */
const CREDENTIAL_VALUE = /^\s*(bearer|basic|digest|token)\s+\S/i;
/** Control characters other than tab: a header value holding one would split the request or be refused by fetch. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** What a redacted value shows. */
export const REDACTED = '***';

/** The webhook fields of a policy (the alert webhook adds `max_age`); exactly one of `url` and `url_from_env`. */
export const webhookFields = {
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** The environment variable of the worker that holds the URL (when the URL is itself the secret). */
  url_from_env: z.string().regex(ENV_NAME, 'an environment variable name: letters, digits and _, not starting with a digit').optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** Header name → the environment variable of the worker that holds its value. */
  headers_from_env: z
    .record(z.string(), z.string().regex(ENV_NAME, 'an environment variable name: letters, digits and _, not starting with a digit'))
    .optional(),
};

/** The shape every webhook of a policy has once parsed. */
export interface WebhookConfig {
  url?: string | undefined;
  url_from_env?: string | undefined;
  headers?: Record<string, string> | undefined;
  headers_from_env?: Record<string, string> | undefined;
}

/** A webhook schema with the policy's own extra fields; it names exactly one URL. */
export function webhookSchema<Extra extends z.ZodRawShape>(extra: Extra) {
  return z
    .object({ ...webhookFields, ...extra })
    .strict()
    .superRefine((value, ctx) => {
      const webhook = value as WebhookConfig;
      if ((webhook.url === undefined) === (webhook.url_from_env === undefined))
        ctx.addIssue({
          code: 'custom',
          path: webhook.url === undefined ? ['url'] : ['url_from_env'],
          message: 'give the URL once: either url or url_from_env (the environment variable of the worker that holds it)',
        });
    });
}

export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADER.test(name);
}

/** The policy's webhooks, where they sit in the document. */
interface PolicyWebhooks {
  notifications?: { webhook?: WebhookConfig | undefined } | undefined;
  retraining?: { hook: { webhook: WebhookConfig } | { workflow: unknown } } | undefined;
}

function webhooksOf(policy: PolicyWebhooks): Array<{ path: string[]; webhook: WebhookConfig }> {
  const found: Array<{ path: string[]; webhook: WebhookConfig }> = [];
  if (policy.notifications?.webhook) found.push({ path: ['notifications', 'webhook'], webhook: policy.notifications.webhook });
  const hook = policy.retraining?.hook;
  if (hook && 'webhook' in hook) found.push({ path: ['retraining', 'hook', 'webhook'], webhook: hook.webhook });
  return found;
}

/**
 * What `policy put` refuses in a policy's webhooks, each issue with its field: a literal
 * credential (a header whose name or value says so, a URL with user info or a query string),
 * a header name that is no HTTP token, a value that would split the request, a header given twice.
 */
export function webhookSecretIssues(policy: PolicyWebhooks): Array<{ path: Array<string | number>; message: string }> {
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  for (const { path, webhook } of webhooksOf(policy)) {
    // zod runs this refinement even when the url failed its format check (it says so itself).
    const url = webhook.url !== undefined && URL.canParse(webhook.url) ? new URL(webhook.url) : undefined;
    if (url !== undefined) {
      if (url.username || url.password)
        issues.push({
          path: [...path, 'url'],
          message:
            'user info in a URL is a credential and is never stored in a policy; put the URL in an environment variable of the worker and name it with url_from_env',
        });
      if (url.search)
        issues.push({
          path: [...path, 'url'],
          message:
            'a query string often holds a token and is never stored in a policy; put the URL in an environment variable of the worker and name it with url_from_env',
        });
    }
    const seen = new Set<string>();
    const named = (field: string, name: string): boolean => {
      if (!HEADER_NAME.test(name)) {
        issues.push({ path: [...path, field, name], message: "not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)" });
        return false;
      }
      if (seen.has(name.toLowerCase())) issues.push({ path: [...path, field, name], message: 'this header is given twice; give it once' });
      seen.add(name.toLowerCase());
      return true;
    };
    for (const [name, value] of Object.entries(webhook.headers ?? {})) {
      if (!named('headers', name)) continue;
      if (isCredentialHeader(name) || CREDENTIAL_VALUE.test(value))
        issues.push({
          path: [...path, 'headers', name],
          message: `a credential is never stored in a policy; name the environment variable of the worker that holds it: "headers_from_env": {"${name}": "SOME_VARIABLE"}`,
        });
      else if (CONTROL.test(value))
        issues.push({ path: [...path, 'headers', name], message: 'a header value holds no control characters (line breaks, NUL)' });
    }
    for (const name of Object.keys(webhook.headers_from_env ?? {})) named('headers_from_env', name);
  }
  return issues;
}

/** A URL as a stored policy may be shown: its user info and query string replaced by ***. */
export function showUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username || parsed.password ? `${REDACTED}@` : '';
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}${parsed.search ? `?${REDACTED}` : ''}`;
  } catch {
    return REDACTED;
  }
}

/** A webhook as it may be shown: credential headers (of policies stored before they were refused) as ***. */
export function redactWebhook<T extends WebhookConfig>(webhook: T): T {
  const headers = webhook.headers
    ? Object.fromEntries(
        Object.entries(webhook.headers).map(([name, value]) => [
          name,
          isCredentialHeader(name) || CREDENTIAL_VALUE.test(value) || CONTROL.test(value) ? REDACTED : value,
        ]),
      )
    : webhook.headers;
  return { ...webhook, ...(webhook.url === undefined ? {} : { url: showUrl(webhook.url) }), ...(headers ? { headers } : {}) };
}

/** A policy as `policy show` and every other reader print it: its webhooks redacted. */
export function redactPolicyWebhooks<T extends PolicyWebhooks>(policy: T): T {
  const hook = policy.retraining?.hook;
  return {
    ...policy,
    ...(policy.notifications?.webhook
      ? { notifications: { ...policy.notifications, webhook: redactWebhook(policy.notifications.webhook) } }
      : {}),
    ...(policy.retraining && hook && 'webhook' in hook
      ? { retraining: { ...policy.retraining, hook: { ...hook, webhook: redactWebhook(hook.webhook) } } }
      : {}),
  };
}

/**
 * Where a webhook goes, as the outbox stores it and every message names it: a literal URL's
 * scheme, host and path, or `$VARIABLE` for one read from the environment (whose path may be
 * the secret itself).
 */
export function webhookReceiver(webhook: WebhookConfig): string {
  return webhook.url_from_env !== undefined ? `$${webhook.url_from_env}` : redactUrl(webhook.url ?? '');
}

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** A webhook ready to send, or why it is not (a variable the worker does not have), with the receiver named either way. */
export type ResolvedWebhook =
  | { ok: true; url: string; headers: Record<string, string>; receiver: string; secrets: string[] }
  | { ok: false; receiver: string; reason: string };

/**
 * Reads a webhook's variables from the worker's environment at send time. A missing or unusable
 * variable is named (never its value) as a failure a later attempt may fix, once the worker has it.
 */
export function resolveWebhook(webhook: WebhookConfig, env: Record<string, string | undefined> = process.env): ResolvedWebhook {
  const receiver = webhookReceiver(webhook);
  const secrets: string[] = [];
  const missing = (variable: string, what: string): ResolvedWebhook => ({
    ok: false,
    receiver,
    reason: `${receiver}: the worker's environment has no ${variable} (${what}); set it and restart the worker`,
  });
  let url = webhook.url ?? '';
  let shown = receiver;
  if (webhook.url !== undefined) {
    // A policy stored before such URLs were refused may hold a token in its query or user info.
    const parsed = new URL(webhook.url);
    for (const part of [parsed.search.slice(1), parsed.username, parsed.password]) secrets.push(part, decoded(part));
  }
  if (webhook.url_from_env !== undefined) {
    const value = env[webhook.url_from_env];
    if (!value) return missing(webhook.url_from_env, 'url_from_env');
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
      return { ok: false, receiver, reason: `${receiver}: the value of ${webhook.url_from_env} is not an http(s) URL` };
    url = value;
    secrets.push(value, `${parsed.pathname}${parsed.search}`, parsed.username, parsed.password);
    shown = `${receiver} (${parsed.protocol}//${parsed.host})`;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(webhook.headers ?? {})) {
    headers[name] = value;
    if (isCredentialHeader(name) || CREDENTIAL_VALUE.test(value)) secrets.push(value);
  }
  for (const [name, variable] of Object.entries(webhook.headers_from_env ?? {})) {
    const value = env[variable];
    if (!value) return missing(variable, `headers_from_env.${name}`);
    if (CONTROL.test(value))
      return {
        ok: false,
        receiver,
        reason: `${receiver}: the value of ${variable} (header ${name}) holds a line break or another control character`,
      };
    headers[name] = value;
    secrets.push(value);
  }
  return { ok: true, url, headers, receiver: shown, secrets: secrets.filter((s) => s.length >= 4 && s !== '/') };
}
