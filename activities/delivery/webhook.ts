/**
 * One HTTP POST of a JSON body to a receiver, judged without throwing: delivered (2xx),
 * refused (a 4xx other than 408 and 429, or a redirect, which is never followed: the
 * receiver's headers and the alert must not travel to another host), or failed (5xx, 408,
 * 429, a timeout, a refused connection), which a later attempt may fix. What it says of the
 * receiver names its origin and path only: query strings and user info often hold secrets.
 */

/** A receiver gets this long to answer before the attempt counts as failed. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookCall {
  url: string;
  headers: Record<string, string>;
  idempotencyKey: string;
  body: unknown;
  /** How messages name the receiver (default: the URL's scheme, host and path). */
  receiver?: string;
  /** Strings no message may hold (values read from the environment, credentials): replaced by ***. */
  secrets?: readonly string[];
}

export interface WebhookAttempt {
  result: 'delivered' | 'refused' | 'failed';
  /** The receiver's HTTP status; null when it never answered. */
  status: number | null;
  /** Why it was refused or failed, without the URL's secrets; null when delivered. */
  reason: string | null;
}

/** The URL as it may be shown: scheme, host, port and path, no user info, query or fragment. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}

export async function postWebhook(call: WebhookCall, timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<WebhookAttempt> {
  const attempt = await attemptPost(call, timeoutMs);
  return attempt.reason === null ? attempt : { ...attempt, reason: scrubSecrets(attempt.reason, call.secrets ?? []) };
}

const originOf = (url: URL): string => `${url.origin}${url.pathname === '/' ? '' : '/…'}`;

/** A message with every one of these secrets replaced by ***, the longest first. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return [...secrets].sort((a, b) => b.length - a.length).reduce((out, secret) => out.split(secret).join('***'), text);
}

async function attemptPost(call: WebhookCall, timeoutMs: number): Promise<WebhookAttempt> {
  const where = call.receiver ?? redactUrl(call.url);
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: 'POST',
      headers: { ...call.headers, 'content-type': 'application/json', 'idempotency-key': call.idempotencyKey },
      body: JSON.stringify(call.body),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause?.code;
    const what = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (cause ?? (error as Error).message);
    return { result: 'failed', status: null, reason: `${where} did not answer: ${what}` };
  }
  await response.body?.cancel().catch(() => {});
  const status = response.status;
  if (response.ok) return { result: 'delivered', status, reason: null };
  if (status >= 300 && status < 400) {
    const location = response.headers.get('location');
    // A call that carries secrets names the redirect by its origin only: the receiver may echo them in its path.
    const target = location
      ? call.secrets?.length
        ? originOf(new URL(location, call.url))
        : redactUrl(new URL(location, call.url).href)
      : 'nowhere';
    return { result: 'refused', status, reason: `${where} answered ${status}, a redirect to ${target}; redirects are not followed` };
  }
  if (status >= 500 || status === 408 || status === 429) return { result: 'failed', status, reason: `${where} answered ${status}` };
  return { result: 'refused', status, reason: `${where} answered ${status}; not retried` };
}
