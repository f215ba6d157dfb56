/**
 * Slack and PagerDuty as alert destinations beside the generic webhook (docs/alerts.md#slack-and-pagerduty).
 * Each is a destination with its own delivery workflow, fed from the same outbox: the judgement
 * queues one notification per alert change and channel, and the delivery turns the alert into
 * the channel's own message when it sends: a Slack Block Kit message for an incoming webhook,
 * a PagerDuty Events API v2 event (`trigger` when an alert fires, `resolve` when it is
 * retracted or resolved, its `dedup_key` the alert's id). The Slack URL and the PagerDuty
 * routing key are credentials: a policy names the worker's environment variables that hold
 * them, never the values.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { fixedDurationMs, isoDurationSchema } from '../../contracts/iso-duration';
import { redactUrl } from './webhook';

const ENV_NAME = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name: letters, digits and _, not starting with a digit');
const httpUrl = z.url({ protocol: /^https?$/ });

/** How long a failing notification of a destination is retried before it expires (docs/alerts.md#delivery). */
export const maxAgeSchema = isoDurationSchema.refine((duration) => {
  const ms = fixedDurationMs(duration);
  return ms !== undefined && ms >= 60_000 && ms <= 30 * 86_400_000;
}, 'must be a fixed duration from PT1M to P30D (months and years vary in length)');

/** PagerDuty's Events API v2 endpoint (`url` overrides it, e.g. for a regional service or a test receiver). */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export const slackSchema = z
  .object({
    /** Refused: an incoming webhook's URL is itself the credential. */
    url: z
      .unknown()
      .refine(
        () => false,
        'a Slack incoming-webhook URL is itself the credential and is never stored in a policy; put it in an environment variable of the worker and name it with url_from_env',
      )
      .optional(),
    /** The worker's variable holding the incoming webhook's URL. */
    url_from_env: ENV_NAME,
    /** Runbook paths are linked under this base (e.g. the repository's docs on your Git host). */
    runbook_base_url: httpUrl.optional(),
    max_age: maxAgeSchema.optional(),
  })
  .strict();

export const pagerDutySchema = z
  .object({
    /** The worker's variable holding the integration's routing key. */
    routing_key_from_env: ENV_NAME,
    url: httpUrl
      .refine((url) => {
        const parsed = new URL(url);
        return !parsed.username && !parsed.password && !parsed.search;
      }, 'user info and query strings hold credentials and are never stored in a policy; the routing key goes in routing_key_from_env')
      .optional(),
    runbook_base_url: httpUrl.optional(),
    max_age: maxAgeSchema.optional(),
  })
  .strict();

export type SlackChannel = z.infer<typeof slackSchema>;
export type PagerDutyChannel = z.infer<typeof pagerDutySchema>;
export type ChannelKind = 'slack' | 'pagerduty';

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

/** A channel's destination: its delivery workflow's key, from the variables it reads (never their values). */
export function channelDestination(kind: ChannelKind, channel: SlackChannel | PagerDutyChannel): string {
  return kind === 'slack'
    ? `slack/${md5(`$${(channel as SlackChannel).url_from_env}`)}`
    : `pagerduty/${md5(`${(channel as PagerDutyChannel).url ?? PAGERDUTY_EVENTS_URL} $${(channel as PagerDutyChannel).routing_key_from_env}`)}`;
}

/** How the outbox and every message name a channel's receiver. */
export function channelReceiver(kind: ChannelKind, channel: SlackChannel | PagerDutyChannel): string {
  return kind === 'slack'
    ? `slack $${(channel as SlackChannel).url_from_env}`
    : `pagerduty ${redactUrl((channel as PagerDutyChannel).url ?? PAGERDUTY_EVENTS_URL)} ($${(channel as PagerDutyChannel).routing_key_from_env})`;
}

export const channelKindOf = (destination: string): ChannelKind | 'webhook' =>
  destination.startsWith('slack/') ? 'slack' : destination.startsWith('pagerduty/') ? 'pagerduty' : 'webhook';

/** What the outbox keeps of an alert change: the payload the generic webhook receives. */
export interface NotificationPayload {
  idempotency_key: string;
  transition: 'firing' | 'retracted' | 'resolved';
  alert: Record<string, any>;
}

/** Slack's mrkdwn needs &, < and > escaped; everything else is text. */
const mrkdwn = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
const shown = (value: unknown): string =>
  typeof value === 'number' ? String(Number(value.toPrecision(4))) : value === null || value === undefined ? '—' : String(value);

/** The observed value with its 95% interval and method when the judgement drew one ("0.41 [0.36, 0.46] wilson"). */
function observedWithInterval(alert: Record<string, any>): string {
  const interval = alert.evidence?.metric_interval;
  if (!Array.isArray(interval) || interval.length !== 2) return shown(alert.observed);
  return `${shown(alert.observed)} [${shown(interval[0])}, ${shown(interval[1])}] ${alert.evidence.interval_method ?? ''}`.trimEnd();
}

function sliceOf(alert: Record<string, any>): string {
  return alert.slice ? `${alert.slice.dimension}=${alert.slice.value}` : 'overall';
}

function runbookLink(alert: Record<string, any>, base: string | undefined): string | null {
  if (!alert.runbook) return null;
  return base ? `${base.replace(/\/$/, '')}/${alert.runbook}` : null;
}

/** One line saying what changed, for a notification's fallback text and a page's summary. */
export function alertSummary(payload: NotificationPayload): string {
  const a = payload.alert;
  const version = a.model_version ? ` ${a.model_version}` : '';
  const where = a.checkpoint ? ` at ${a.checkpoint}${a.revision && a.revision > 1 ? ` (revision ${a.revision})` : ''}` : '';
  return (
    `[${a.severity}] ${a.rule} ${payload.transition} on ${a.model_name}${version} (${sliceOf(a)}): ` +
    `${a.metric ?? 'value'} ${shown(a.observed)} vs ${shown(a.baseline)}${where}`
  );
}

/** The Block Kit message of one alert change: the rule, the slice, observed against baseline at which checkpoint, the diagnosis, the runbook. */
export function slackMessage(payload: NotificationPayload, channel: Pick<SlackChannel, 'runbook_base_url'>): Record<string, unknown> {
  const a = payload.alert;
  const verb = payload.transition === 'firing' ? 'firing' : payload.transition;
  const fields = [
    ['Model', `${a.model_name}${a.model_version ? ` ${a.model_version}` : ''}`],
    ['Slice', sliceOf(a)],
    [`Observed (${a.metric ?? 'value'})`, observedWithInterval(a)],
    ['Baseline', shown(a.baseline)],
    ['Checkpoint', a.checkpoint ? `${a.checkpoint}${a.revision ? `, revision ${a.revision}` : ''}` : 'the cohort at its close'],
    ['Severity', shown(a.severity)],
  ].map(([title, value]) => ({ type: 'mrkdwn', text: cut(`*${title}*\n${mrkdwn(String(value))}`, 2000) }));
  const blocks: Array<Record<string, unknown>> = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${a.rule} ${verb}`, 150) } },
    { type: 'section', fields },
  ];
  const verdict = a.diagnosis?.verdict ?? (a.diagnosis?.error ? `not made: ${a.diagnosis.error}` : null);
  if (verdict) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(`*Diagnosis*: ${mrkdwn(String(verdict))}`, 3000) } });
  const link = runbookLink(a, channel.runbook_base_url);
  const context = [
    `cohort ${a.cohort_id ?? '(label feed)'}`,
    `policy ${a.policy}`,
    a.runbook ? (link ? `<${link}|runbook>` : `runbook ${a.runbook}`) : null,
  ].filter((part): part is string => part !== null);
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: cut(context.map((part, i) => (i === 2 && link ? part : mrkdwn(part))).join(' · '), 3000) }],
  });
  return { text: cut(alertSummary(payload), 3000), blocks };
}

const PAGERDUTY_SEVERITY: Record<string, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  warning: 'warning',
  info: 'info',
};

/** The Events API v2 event of one alert change: `trigger` when it fires, `resolve` otherwise; one incident per alert. */
export function pagerDutyEvent(
  payload: NotificationPayload,
  channel: Pick<PagerDutyChannel, 'runbook_base_url'>,
  routingKey: string,
): Record<string, unknown> {
  const a = payload.alert;
  const dedupKey = `hindsight-alert-${a.alert_id}`;
  if (payload.transition !== 'firing') return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
  const link = runbookLink(a, channel.runbook_base_url);
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: cut(alertSummary(payload), 1024),
      source: `hindsight/${a.model_name}`,
      severity: PAGERDUTY_SEVERITY[a.severity] ?? 'error',
      ...(a.updated_at ? { timestamp: a.updated_at } : {}),
      component: a.model_name,
      group: a.model_version ?? undefined,
      class: a.kind,
      custom_details: {
        rule: a.rule,
        slice: sliceOf(a),
        metric: a.metric,
        observed: a.observed,
        observed_interval: a.evidence?.metric_interval ?? null,
        interval_method: a.evidence?.interval_method ?? null,
        baseline: a.baseline,
        checkpoint: a.checkpoint,
        revision: a.revision,
        cohort_id: a.cohort_id,
        diagnosis: a.diagnosis?.verdict ?? null,
        runbook: a.runbook,
        policy: a.policy,
      },
    },
    ...(link ? { links: [{ href: link, text: 'runbook' }] } : {}),
  };
}

/** A channel ready to send to, or the variable the worker lacks (named, never a value). */
export type ResolvedChannel =
  | { ok: true; url: string; body: Record<string, unknown>; receiver: string; secrets: string[] }
  | { ok: false; receiver: string; reason: string };

export function resolveChannel(
  kind: ChannelKind,
  channel: SlackChannel | PagerDutyChannel,
  payload: NotificationPayload,
  env: Record<string, string | undefined> = process.env,
): ResolvedChannel {
  const receiver = channelReceiver(kind, channel);
  const missing = (variable: string, field: string): ResolvedChannel => ({
    ok: false,
    receiver,
    reason: `${receiver}: the worker's environment has no ${variable} (${field}); set it and restart the worker`,
  });
  if (kind === 'slack') {
    const slack = channel as SlackChannel;
    const url = env[slack.url_from_env];
    if (!url) return missing(slack.url_from_env, 'url_from_env');
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      return { ok: false, receiver, reason: `${receiver}: the value of ${slack.url_from_env} is not an http(s) URL` };
    const parsed = new URL(url);
    return { ok: true, url, body: slackMessage(payload, slack), receiver, secrets: [url, `${parsed.pathname}${parsed.search}`] };
  }
  const pagerDuty = channel as PagerDutyChannel;
  const key = env[pagerDuty.routing_key_from_env];
  if (!key) return missing(pagerDuty.routing_key_from_env, 'routing_key_from_env');
  return { ok: true, url: pagerDuty.url ?? PAGERDUTY_EVENTS_URL, body: pagerDutyEvent(payload, pagerDuty, key), receiver, secrets: [key] };
}
