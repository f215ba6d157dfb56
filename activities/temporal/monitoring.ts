/**
 * The monitoring capability given to the worker: judging a snapshot's policies, delivering
 * alert notifications, watching the label feeds and calling the retraining hook. Firing
 * alerts and stalled feeds are logged as they are found.
 */
import { log } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { MonitoringOutcome } from '../../contracts/monitoring';
import { applyMonitoringPolicy, type ApplyPolicyInput } from '../monitoring/apply-policy';
import { checkStalledFeeds } from '../monitoring/feeds';
import { pendingDestinations } from '../delivery/outbox';
import { wakeDeliveries } from './delivery';
import { withHeartbeat } from './heartbeat';
import { callWebhook, deliverAlertNotifications, type RetrainingWebhookCall } from '../monitoring/notify';
import { type MonitoringDependencies } from '../monitoring/judging-context';

/** The monitoring activities, with the database and the estimators injected by the worker. */
export function createMonitoringActivities(db: Knex, deps: MonitoringDependencies) {
  return {
    async applyMonitoringPolicy(input: ApplyPolicyInput): Promise<MonitoringOutcome> {
      // The per-group reasons stay out of the workflow's history; the alerts table keeps what fired.
      // Heartbeats while it judges, so a lost worker is noticed in seconds whatever a rule costs.
      const { judgements: _reasons, ...outcome } = await withHeartbeat((checkpointing) =>
        applyMonitoringPolicy(db, deps, input, checkpointing),
      );
      // The notifications it queued go to their destinations' delivery workflows, woken here.
      if (input.wakeDeliveries) await wakeDeliveries(outcome.destinations ?? []);
      for (const alert of outcome.alerts.filter((a) => a.state === 'firing')) {
        log.warn(
          `alert ${alert.rule} firing on ${input.cohortId} (${alert.slice}): ` +
            `observed ${alert.observed}, baseline ${alert.baseline}${alert.verdict ? `, diagnosis ${alert.verdict}` : ''}`,
          {
            alertId: alert.alertId,
          },
        );
      }
      return outcome;
    },

    async deliverAlertNotifications(input: { cohortId: string | null }): Promise<{ delivered: number }> {
      return withHeartbeat(() => deliverAlertNotifications(db, input));
    },

    async checkStalledFeeds(input: { policy: string; now: string; wakeDeliveries?: boolean }) {
      const checked = await withHeartbeat(() => checkStalledFeeds(db, input));
      const result = { ...checked, destinations: await pendingDestinations(db, null) };
      if (input.wakeDeliveries) await wakeDeliveries(result.destinations);
      for (const check of result.checks.filter((c) => c.state === 'firing')) {
        log.warn(`feed ${check.outcome_type} stalled (rule ${check.rule}): last outcome received ${check.last_received ?? 'never'}`);
      }
      return result;
    },

    async callRetrainingWebhook(call: RetrainingWebhookCall): Promise<void> {
      await callWebhook(db, call);
    },
  };
}

export type MonitoringActivities = ReturnType<typeof createMonitoringActivities>;
