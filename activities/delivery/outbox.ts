/**
 * The alert outbox, one destination at a time (docs/alerts.md#delivery). A judgement queues a
 * notification per alert transition under its idempotency key; a destination's delivery
 * workflow takes the oldest pending one, makes one attempt and records it: `delivered`,
 * `refused` (the receiver will never take it), `expired` (still failing past the
 * destination's maximum age), or still `pending` to be tried again after a backoff. So a
 * receiver that is down delays only its own notifications, in order, each sent under one key.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { DeliveryStep } from '../../contracts/delivery';
import { fixedDurationMs } from '../../contracts/iso-duration';
import { postWebhook, redactUrl, type WebhookAttempt } from './webhook';
import { channelKindOf, resolveChannel } from './channels';
import { resolveWebhook, type WebhookConfig } from './webhook-config';

/** How long a notification is retried before it is `expired`, unless the policy's webhook says `max_age`. */
export const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;

/**
 * The destination a webhook's notifications go to: its delivery workflow's key, the hash of its
 * URL (which may hold a secret), or of `$VARIABLE` for a URL the worker reads from its environment.
 */
export function webhookDestination(webhook: string | WebhookConfig): string {
  const key = typeof webhook === 'string' ? webhook : (webhook.url ?? `$${webhook.url_from_env}`);
  return `webhook/${createHash('md5').update(key).digest('hex')}`;
}

/** How an outbox row names its receiver: `$VARIABLE` as stored, a URL (rows from before store it whole) by scheme, host and path. */
const shownReceiver = (stored: string): string => (stored.startsWith('$') || !URL.canParse(stored) ? stored : redactUrl(stored));

/** The outbox rows of a cohort's alerts (null: the feed alerts, which have no cohort; undefined: every alert's). */
function notificationsOf(db: Knex, cohortId: string | null | undefined): Knex.QueryBuilder {
  return db('alert_notifications as n')
    .join('alerts as a', 'a.alert_id', 'n.alert_id')
    .modify((q) => (cohortId === undefined ? q : cohortId === null ? q.whereNull('a.cohort_id') : q.where('a.cohort_id', cohortId)));
}

/** Destinations with pending notifications for a cohort's alerts (null: the feed alerts, which have no cohort). */
export async function pendingDestinations(db: Knex, cohortId: string | null): Promise<string[]> {
  const rows = await notificationsOf(db, cohortId).where('n.state', 'pending').distinct('n.destination').orderBy('n.destination');
  return rows.map((row: { destination: string }) => row.destination);
}

/** How many of a cohort's alert notifications are still pending (null: the feed alerts'; undefined: every alert's). */
export async function pendingNotifications(db: Knex, cohortId: string | null | undefined): Promise<number> {
  const counted = await notificationsOf(db, cohortId).where('n.state', 'pending').count({ count: '*' });
  return Number(counted[0]?.count ?? 0);
}

export interface DeliveryStates {
  total: number;
  pending: number;
  delivered: number;
  refused: number;
  expired: number;
  /** The last refusal or failure, as recorded (the receiver named without its secrets). */
  last_error: string | null;
}

/** Where a cohort's alert notifications stand, for `cohort status`. */
export async function deliveryStates(db: Knex, cohortId: string): Promise<DeliveryStates> {
  const rows = await notificationsOf(db, cohortId).groupBy('n.state').select('n.state', db.raw('count(*)::int as n'));
  const states: DeliveryStates = { total: 0, pending: 0, delivered: 0, refused: 0, expired: 0, last_error: null };
  for (const row of rows as Array<{ state: 'pending' | 'delivered' | 'refused' | 'expired'; n: number }>) {
    states[row.state] = row.n;
    states.total += row.n;
  }
  const failed = await notificationsOf(db, cohortId)
    .whereNotNull('n.last_error')
    .orderBy('n.last_attempt_at', 'desc')
    .first('n.last_error');
  states.last_error = failed?.last_error ?? null;
  return states;
}

export function describeDeliveries(states: DeliveryStates): string {
  const counts = (['delivered', 'pending', 'refused', 'expired'] as const)
    .filter((state) => states[state] > 0)
    .map((state) => `${states[state]} ${state}`);
  return `${counts.join(', ')}${states.last_error ? ` (last: ${states.last_error})` : ''}`;
}

/**
 * Attempts the destination's oldest pending notification once and records the attempt. The URL
 * and headers come from the policy as stored and the worker's environment (never from the
 * outbox), so they are sent, not kept; a variable the worker lacks fails the attempt, naming it.
 */
export async function deliverNext(db: Knex, destination: string, now = new Date()): Promise<DeliveryStep> {
  const row = await db('alert_notifications as n')
    .join('alerts as a', 'a.alert_id', 'n.alert_id')
    .where({ 'n.destination': destination, 'n.state': 'pending' })
    .orderBy([{ column: 'n.created_at' }, { column: 'n.idempotency_key' }])
    .first('n.idempotency_key', 'n.url', 'n.payload', 'n.created_at', 'a.policy_name', 'a.policy_version');
  if (!row) return { outcome: 'empty', idempotencyKey: null, status: null, pending: 0 };
  const policy = await db('monitoring_policies').where({ name: row.policy_name, version: row.policy_version }).first('policy');
  const kind = channelKindOf(destination);
  const notifications = policy?.policy.notifications ?? {};
  let resolved:
    | { ok: true; url: string; headers: Record<string, string>; body: unknown; receiver: string; secrets: string[] }
    | { ok: false; receiver: string; reason: string };
  let maxAge: string | undefined;
  if (kind === 'webhook') {
    const webhook: WebhookConfig & { max_age?: string } = notifications.webhook ?? { url: row.url };
    const found = resolveWebhook(webhook);
    resolved = found.ok ? { ...found, body: row.payload } : found;
    maxAge = webhook.max_age;
  } else if (notifications[kind]) {
    const found = resolveChannel(kind, notifications[kind], row.payload);
    resolved = found.ok ? { ...found, headers: {} } : found;
    maxAge = notifications[kind].max_age;
  } else {
    resolved = {
      ok: false,
      receiver: row.url,
      reason: `${row.url}: policy ${row.policy_name}@${row.policy_version} names no ${kind} channel`,
    };
  }
  const attempt: WebhookAttempt = resolved.ok
    ? await postWebhook({
        url: resolved.url,
        headers: resolved.headers,
        idempotencyKey: row.idempotency_key,
        body: resolved.body,
        receiver: resolved.receiver,
        secrets: resolved.secrets,
      })
    : { result: 'failed', status: null, reason: resolved.reason };
  const maxAgeMs = (maxAge ? fixedDurationMs(maxAge) : undefined) ?? DEFAULT_MAX_AGE_MS;
  const expired = attempt.result === 'failed' && now.getTime() - new Date(row.created_at).getTime() >= maxAgeMs;
  const state = attempt.result === 'delivered' ? 'delivered' : attempt.result === 'refused' ? 'refused' : expired ? 'expired' : 'pending';
  await db('alert_notifications')
    .where({ idempotency_key: row.idempotency_key })
    .update({
      state,
      attempts: db.raw('attempts + 1'),
      last_status: attempt.status,
      last_error: attempt.reason,
      last_attempt_at: now,
      ...(state === 'delivered' ? { delivered_at: now } : {}),
    });
  const counted = await db('alert_notifications').where({ destination, state: 'pending' }).count({ count: '*' });
  const outcome = state === 'pending' ? 'retry' : state;
  return {
    outcome: outcome as DeliveryStep['outcome'],
    idempotencyKey: row.idempotency_key,
    status: attempt.status,
    pending: Number(counted[0]?.count ?? 0),
    receiver: resolved.receiver,
    reason: attempt.reason,
  };
}

/** Where one alert's notification stands, as `alerts list` shows it (the receiver named without its secrets). */
export interface AlertDelivery {
  transition: string;
  destination: string;
  state: 'pending' | 'delivered' | 'refused' | 'expired';
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
}

/** The notifications of these alerts, by alert, in the order they were queued. */
export async function alertDeliveries(db: Knex, alertIds: number[]): Promise<Map<number, AlertDelivery[]>> {
  const byAlert = new Map<number, AlertDelivery[]>();
  if (alertIds.length === 0) return byAlert;
  const rows = await db('alert_notifications')
    .whereIn('alert_id', alertIds)
    .orderBy([{ column: 'created_at' }, { column: 'idempotency_key' }])
    .select('alert_id', 'transition', 'url', 'state', 'attempts', 'last_status', 'last_error', 'last_attempt_at');
  for (const row of rows as Array<Record<string, any>>) {
    const id = Number(row.alert_id);
    byAlert.set(id, [
      ...(byAlert.get(id) ?? []),
      {
        transition: row.transition,
        destination: shownReceiver(row.url),
        state: row.state,
        attempts: Number(row.attempts),
        last_status: row.last_status,
        last_error: row.last_error,
        last_attempt_at: row.last_attempt_at === null ? null : new Date(row.last_attempt_at).toISOString(),
      },
    ]);
  }
  return byAlert;
}
