import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { deliverNext, pendingDestinations } from '../delivery/outbox';
import { postWebhook, type WebhookCall } from '../delivery/webhook';
import { resolveWebhook } from '../delivery/webhook-config';
import { getPolicy, parsePolicyRef } from './policy';

export type { WebhookCall };

/**
 * A call of a retraining webhook as the workflow asks for it: the policy (`name@version`) whose
 * hook it is, so that no URL or header, which may be secrets, travels in a workflow's history.
 * Requests recorded before name the URL and headers themselves, and are sent with them.
 */
export type RetrainingWebhookCall = { policy: string; idempotencyKey: string; body: unknown } | WebhookCall;

/**
 * Calls a retraining webhook once. A failure a later attempt may fix (5xx, no answer, a
 * variable the worker lacks) throws, so the activity's retry policy tries again; a refusal (a
 * 4xx, a redirect) is a non-retryable `WebhookRefused` failure that the retraining workflow
 * records on the request.
 */
export async function callWebhook(db: Knex, request: RetrainingWebhookCall): Promise<void> {
  const call = 'policy' in request ? await retrainingWebhookCall(db, request) : request;
  const attempt = await postWebhook(call);
  if (attempt.result === 'delivered') return;
  if (attempt.result === 'failed') throw new Error(attempt.reason ?? 'the webhook failed');
  throw ApplicationFailure.create({ type: 'WebhookRefused', message: attempt.reason ?? 'the webhook refused', nonRetryable: true });
}

/** The retraining hook of the policy version, read from the policy and the worker's environment now. */
async function retrainingWebhookCall(db: Knex, request: { policy: string; idempotencyKey: string; body: unknown }): Promise<WebhookCall> {
  const policy = await getPolicy(db, parsePolicyRef(request.policy));
  const hook = policy.retraining?.hook;
  if (!hook || !('webhook' in hook))
    throw ApplicationFailure.create({
      type: 'WebhookRefused',
      message: `policy ${request.policy} has no retraining webhook`,
      nonRetryable: true,
    });
  const resolved = resolveWebhook(hook.webhook);
  if (!resolved.ok) throw new Error(resolved.reason);
  return {
    url: resolved.url,
    headers: resolved.headers,
    idempotencyKey: request.idempotencyKey,
    body: request.body,
    receiver: resolved.receiver,
    secrets: resolved.secrets,
  };
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
