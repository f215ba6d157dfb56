import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { deliverNext, pendingDestinations } from '../delivery/outbox';
import { postWebhook, type WebhookCall } from '../delivery/webhook';

export type { WebhookCall };

/**
 * Calls a retraining webhook once. A failure a later attempt may fix (5xx, no answer) throws,
 * so the activity's retry policy tries again; a refusal (a 4xx, a redirect) is a
 * non-retryable `WebhookRefused` failure that the retraining workflow records on the request.
 */
export async function callWebhook(call: WebhookCall): Promise<void> {
  const attempt = await postWebhook(call);
  if (attempt.result === 'delivered') return;
  if (attempt.result === 'failed') throw new Error(attempt.reason ?? 'the webhook failed');
  throw ApplicationFailure.create({ type: 'WebhookRefused', message: attempt.reason ?? 'the webhook refused', nonRetryable: true });
}

/**
 * The delivery of cohorts whose workflows started before delivery had workflows of its own
 * (they still call this activity on replay): drains the cohort's destinations in order; a
 * refused or expired notification is recorded and passed over, and one that failed throws so
 * the activity retries it later.
 */
export async function deliverAlertNotifications(db: Knex, input: { cohortId: string | null }): Promise<{ delivered: number }> {
  let delivered = 0;
  for (const destination of await pendingDestinations(db, input.cohortId)) {
    for (;;) {
      const step = await deliverNext(db, destination);
      if (step.outcome === 'delivered') delivered++;
      if (step.outcome === 'retry') throw new Error(`notification ${step.idempotencyKey} is not delivered yet (status ${step.status})`);
      if (step.outcome === 'empty' || step.pending === 0) break;
    }
  }
  return { delivered };
}
