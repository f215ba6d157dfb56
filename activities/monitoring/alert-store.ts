/**
 * The alerts table and its outbox: recording a rule's verdicts as alert transitions (fire,
 * re-fire, retract) and queueing each transition for the policy's webhook under a key a retry
 * reproduces; reading a cohort's alerts; an alert as the command line and the webhook show it.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { CohortRecord } from '../../contracts/cohort';
import { sliceLabel, type AlertState, type AlertSummary } from '../../contracts/monitoring';
import { toUtcIso } from '../../contracts/utc-timestamp';
import type { Diagnosis } from '../diagnose/diagnose';
import { channelDestination, channelReceiver } from '../delivery/channels';
import { webhookDestination } from '../delivery/outbox';
import { webhookReceiver } from '../delivery/webhook-config';
import type { DiagnosisFailure, JudgedSnapshot } from './judging-context';
import type { GroupJudgement } from './judge';
import { runbookFor, type MonitoringPolicy, type PolicyRule } from './policy';

export interface AlertRow {
  alert_id: number;
  rule_name: string;
  slice_dimension: string;
  slice_value: string | null;
  state: AlertState;
  observed: number | null;
  baseline: number | null;
}

/**
 * Records the verdicts: a firing group inserts or re-fires its row; a clear group retracts a
 * firing row (a later snapshot of the same cohort cleared it); a suppressed group leaves its
 * row alone. Each transition is queued for the policy's webhook under a key that a retry of
 * this activity reproduces, so it is delivered once.
 */
export async function recordJudgements(
  trx: Knex.Transaction,
  input: {
    policy: MonitoringPolicy;
    rule: PolicyRule;
    record: CohortRecord;
    snapshot: JudgedSnapshot | null;
    judgements: GroupJudgement[];
    diagnosis: Diagnosis | DiagnosisFailure | null;
  },
): Promise<{ transitions: AlertRow[]; notifications: number }> {
  const { policy, rule, record, snapshot } = input;
  const moment = snapshot ? `snapshot ${snapshot.snapshotId}` : 'close';
  {
    const transitions: AlertRow[] = [];
    let notifications = 0;
    for (const judgement of input.judgements) {
      if (judgement.verdict === 'suppressed') continue;
      const dedupKey = [policy.name, rule.name, record.cohort_id, sliceLabel(judgement.dimension, judgement.value)].join('/');
      const existing = await trx('alerts').where({ dedup_key: dedupKey }).forUpdate().first('alert_id', 'state');
      const now = trx.fn.now();
      const values = {
        policy_version: policy.version,
        model_version: record.model_version,
        checkpoint: snapshot?.checkpoint ?? null,
        snapshot_id: snapshot?.snapshotId ?? null,
        revision: snapshot?.revision ?? null,
        severity: rule.severity,
        metric:
          'metric' in rule
            ? rule.metric
            : rule.kind === 'label_availability'
              ? 'label_availability'
              : rule.kind === 'score_psi'
                ? 'psi'
                : null,
        observed: judgement.observed,
        baseline: judgement.baseline,
        ci_low: judgement.interval?.low ?? null,
        ci_high: judgement.interval?.high ?? null,
        p_value: judgement.p_value,
        evidence: {
          reason: judgement.reason,
          n: judgement.n,
          relative_change: judgement.relative_change,
          judged_at: moment,
          // The observed value's own 95% interval and its method; the band of a band baseline.
          ...(judgement.metric_interval
            ? {
                metric_interval: [judgement.metric_interval.low, judgement.metric_interval.high],
                interval_method: judgement.metric_interval.method,
              }
            : {}),
          ...(judgement.band ? { band: judgement.band } : {}),
        },
        updated_at: now,
      };
      // What a new row of this (rule, cohort, slice) is made of, whatever its first state.
      const identity = {
        dedup_key: dedupKey,
        policy_name: policy.name,
        rule_name: rule.name,
        rule_kind: rule.kind,
        model_name: record.model_name,
        cohort_id: record.cohort_id,
        slice_dimension: judgement.dimension,
        slice_value: judgement.value,
        runbook: runbookFor(rule),
        fired_at: now,
      };
      let transition: AlertState | null = null;
      let row: AlertRow | undefined;
      if (judgement.verdict === 'error') {
        // Recorded for operators, never notified: the rule could not say whether anything is wrong.
        const error = { ...values, state: 'error', diagnosis: null };
        if (!existing) {
          await trx('alerts').insert({ ...error, ...identity });
        } else if (existing.state !== 'firing') {
          await trx('alerts').where({ alert_id: existing.alert_id }).update(error);
        }
        continue;
      } else if (existing?.state === 'error' && judgement.verdict === 'clear') {
        // Judged again, and nothing is wrong: the error is over.
        await trx('alerts')
          .where({ alert_id: existing.alert_id })
          .update({ ...values, state: 'resolved', cleared_at: now });
        continue;
      } else if (judgement.verdict === 'fire') {
        if (!existing) {
          [row] = await trx('alerts')
            .insert({ ...values, ...identity, state: 'firing', diagnosis: input.diagnosis })
            .returning(ALERT_COLUMNS);
          transition = 'firing';
        } else {
          const refire = existing.state !== 'firing';
          [row] = await trx('alerts')
            .where({ alert_id: existing.alert_id })
            .update({ ...values, state: 'firing', diagnosis: input.diagnosis, ...(refire ? { fired_at: now, cleared_at: null } : {}) })
            .returning(ALERT_COLUMNS);
          if (refire) transition = 'firing';
        }
      } else if (existing?.state === 'firing') {
        [row] = await trx('alerts')
          .where({ alert_id: existing.alert_id })
          .update({ ...values, state: 'retracted', cleared_at: now })
          .returning(ALERT_COLUMNS);
        transition = 'retracted';
      } else {
        continue;
      }
      if (transition === null) continue;
      transitions.push(row!);
      notifications += await queueAlertNotification(trx, policy, Number(row!.alert_id), transition, moment);
    }
    return { transitions, notifications };
  }
}

const ALERT_COLUMNS = ['alert_id', 'rule_name', 'slice_dimension', 'slice_value', 'state', 'observed', 'baseline'];

/**
 * Queues one alert transition for the policy's webhook (none without one), keyed by the alert,
 * the transition and the moment judged, so a retried judgement queues nothing new. Returns how
 * many it queued (0 or 1).
 */
export async function queueAlertNotification(
  trx: Knex.Transaction,
  policy: MonitoringPolicy,
  alertId: number,
  transition: AlertState,
  moment: string,
): Promise<number> {
  const destinations = notificationDestinations(policy);
  if (destinations.length === 0) return 0;
  const alert = await trx('alerts').where({ alert_id: alertId }).first();
  let queued = 0;
  for (const { kind, destination, receiver } of destinations) {
    // The webhook's key is the one it always had; each other channel's is its own.
    const key = createHash('sha256')
      .update(JSON.stringify(kind === 'webhook' ? [alertId, transition, moment] : [alertId, transition, moment, kind]))
      .digest('hex');
    const inserted = await trx('alert_notifications')
      .insert({
        idempotency_key: key,
        destination,
        alert_id: alertId,
        transition,
        // Where it goes, not the URL: the worker reads that (and the headers) from the policy when it sends.
        url: receiver,
        payload: { idempotency_key: key, transition, alert: alertPayload(alert) },
      })
      .onConflict('idempotency_key')
      .ignore()
      .returning('idempotency_key');
    queued += inserted.length;
  }
  return queued;
}

/** The destinations of a policy's alert notifications: its webhook, Slack and PagerDuty, those it names. */
export function notificationDestinations(policy: MonitoringPolicy): Array<{ kind: string; destination: string; receiver: string }> {
  const { webhook, slack, pagerduty } = policy.notifications;
  return [
    ...(webhook ? [{ kind: 'webhook', destination: webhookDestination(webhook), receiver: webhookReceiver(webhook) }] : []),
    ...(slack ? [{ kind: 'slack', destination: channelDestination('slack', slack), receiver: channelReceiver('slack', slack) }] : []),
    ...(pagerduty
      ? [{ kind: 'pagerduty', destination: channelDestination('pagerduty', pagerduty), receiver: channelReceiver('pagerduty', pagerduty) }]
      : []),
  ];
}

/** An alert as `alerts list --json` and the webhook show it. */
export function alertPayload(row: Record<string, any>): Record<string, unknown> {
  return {
    alert_id: Number(row.alert_id),
    policy: `${row.policy_name}@${row.policy_version}`,
    rule: row.rule_name,
    kind: row.rule_kind,
    severity: row.severity,
    state: row.state,
    model_name: row.model_name,
    model_version: row.model_version,
    cohort_id: row.cohort_id,
    checkpoint: row.checkpoint,
    snapshot_id: row.snapshot_id === null ? null : Number(row.snapshot_id),
    revision: row.revision,
    slice: row.slice_dimension === '' ? null : { dimension: row.slice_dimension, value: row.slice_value },
    metric: row.metric,
    observed: row.observed,
    baseline: row.baseline,
    interval: row.ci_low === null ? null : { low: row.ci_low, high: row.ci_high },
    p_value: row.p_value,
    evidence: row.evidence,
    diagnosis: row.diagnosis,
    runbook: row.runbook,
    fired_at: toUtcIso(row.fired_at),
    updated_at: toUtcIso(row.updated_at),
    cleared_at: row.cleared_at === null ? null : toUtcIso(row.cleared_at),
  };
}

export async function cohortAlerts(db: Knex, cohortId: string): Promise<AlertSummary[]> {
  const rows = await db('alerts').where({ cohort_id: cohortId }).orderBy('alert_id');
  return rows.map((row: Record<string, any>) => ({
    alertId: Number(row.alert_id),
    rule: row.rule_name,
    kind: row.rule_kind,
    severity: row.severity,
    state: row.state,
    slice: sliceLabel(row.slice_dimension, row.slice_value),
    checkpoint: row.checkpoint,
    observed: row.observed,
    baseline: row.baseline,
    verdict: row.diagnosis?.verdict ?? null,
  }));
}
