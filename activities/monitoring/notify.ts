import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';

/** A webhook gets this long to answer before the attempt counts as failed and is retried. */
const WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookCall {
  url: string;
  headers: Record<string, string>;
  idempotencyKey: string;
  body: unknown;
}

/**
 * POSTs JSON with an `Idempotency-Key` header. A 2xx is delivered; a 408, 429 or 5xx (or no
 * answer) throws so the activity's retry policy tries again with backoff; any other 4xx is a
 * request the receiver will never accept, so it fails without retrying.
 */
export async function postWebhook(call: WebhookCall): Promise<void> {
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: 'POST',
      headers: { ...call.headers, 'content-type': 'application/json', 'idempotency-key': call.idempotencyKey },
      body: JSON.stringify(call.body),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
  } catch (error) {
    throw new Error(`webhook ${call.url} did not answer: ${(error as Error).message}`);
  }
  await response.body?.cancel();
  if (response.ok) return;
  const message = `webhook ${call.url} answered ${response.status}`;
  if (response.status >= 500 || response.status === 408 || response.status === 429) throw new Error(message);
  throw ApplicationFailure.create({ type: 'WebhookRefused', message: `${message}; not retried`, nonRetryable: true });
}

/**
 * Delivers a cohort's queued alert notifications (the outbox `applyMonitoringPolicy` filled),
 * oldest first. Each carries its idempotency key; a delivered one is marked and never sent
 * again, so a retried activity resends only what was not acknowledged.
 */
export async function deliverAlertNotifications(db: Knex, input: { cohortId: string | null }): Promise<{ delivered: number }> {
  const pending = await db('alert_notifications as n')
    .join('alerts as a', 'a.alert_id', 'n.alert_id')
    .whereNull('n.delivered_at')
    .modify((q) => (input.cohortId === null ? q.whereNull('a.cohort_id') : q.where('a.cohort_id', input.cohortId)))
    .orderBy('n.created_at')
    .select('n.idempotency_key', 'n.url', 'n.payload', 'a.policy_name', 'a.policy_version');
  let delivered = 0;
  for (const row of pending) {
    const policy = await db('monitoring_policies').where({ name: row.policy_name, version: row.policy_version }).first('policy');
    const headers: Record<string, string> = policy?.policy.notifications?.webhook?.headers ?? {};
    try {
      await postWebhook({ url: row.url, headers, idempotencyKey: row.idempotency_key, body: row.payload });
    } catch (error) {
      await db('alert_notifications')
        .where({ idempotency_key: row.idempotency_key })
        .update({ attempts: db.raw('attempts + 1'), last_error: (error as Error).message });
      throw error;
    }
    await db('alert_notifications')
      .where({ idempotency_key: row.idempotency_key })
      .update({ attempts: db.raw('attempts + 1'), delivered_at: db.fn.now(), last_error: null });
    delivered++;
  }
  return { delivered };
}
