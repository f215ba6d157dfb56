/**
 * What a policy asks for when its rules fired: the retraining evidence a pipeline receives and
 * the recalibration request. Pure: the same policy, cohort and fired alerts give the same ask.
 */
import type { CohortRecord } from '../../contracts/cohort';
import { durationBounds, fixedDurationMs } from '../../contracts/iso-duration';
import { sliceLabel, type RecalibrationRequest, type RetrainingEvidence } from '../../contracts/monitoring';
import { webhookReceiver } from '../delivery/webhook-config';
import type { AlertRow } from './alert-store';
import type { JudgedSnapshot } from './judging-context';
import type { MonitoringPolicy, PolicyRule } from './policy';

/** The evidence a policy's retraining hook receives for the rules that fired and ask for it (null when none do). */
export function retrainingEvidence(
  policy: MonitoringPolicy,
  record: CohortRecord,
  snapshot: Pick<JudgedSnapshot, 'snapshotId' | 'checkpoint'> | null,
  fired: Array<{
    rule: PolicyRule;
    alerts: Array<Pick<AlertRow, 'alert_id' | 'rule_name' | 'slice_dimension' | 'slice_value' | 'observed' | 'baseline'>>;
  }>,
  verdict: string | null,
): RetrainingEvidence | null {
  const retraining = policy.retraining;
  if (!retraining) return null;
  const requesting = fired.filter((f) => retraining.rules.includes(f.rule.name));
  if (requesting.length === 0) return null;
  return {
    model: record.model_name,
    modelVersion: record.model_version,
    cohortId: record.cohort_id,
    snapshotId: snapshot?.snapshotId ?? null,
    checkpoint: snapshot?.checkpoint ?? null,
    policy: `${policy.name}@${policy.version}`,
    alerts: requesting.flatMap((f) =>
      f.alerts.map((a) => ({
        alertId: Number(a.alert_id),
        rule: a.rule_name,
        slice: sliceLabel(a.slice_dimension, a.slice_value),
        observed: a.observed,
        baseline: a.baseline,
      })),
    ),
    verdict,
    retrainOnLabeling: retraining.retrain_on_labeling,
    quietPeriod: retraining.quiet_period,
    quietPeriodMs: fixedDurationMs(retraining.quiet_period) ?? durationBounds(retraining.quiet_period).min * 1000,
    // Where the webhook goes, never its URL's secrets or headers: evidence travels in signals and histories.
    hook: 'webhook' in retraining.hook ? { webhook: { receiver: webhookReceiver(retraining.hook.webhook) } } : retraining.hook,
    every: retraining.every,
    labelDefinition: `${record.label_definition_name}@${record.label_definition_version}`,
  };
}

/**
 * The recalibration a policy asks for when one of its rules fired, unless the diagnosis blames
 * the labels alone: a calibrator fitted across a label outage learns the outage, as a retrained
 * model would (`recalibrate_on_labeling` overrides).
 */
export function recalibrationRequest(
  policy: MonitoringPolicy,
  record: CohortRecord,
  fired: Array<{ rule: PolicyRule; alerts: Array<Pick<AlertRow, 'alert_id'>> }>,
  verdict: string | null,
): RecalibrationRequest | null {
  const recalibration = policy.recalibration;
  if (!recalibration) return null;
  if (verdict === 'labeling' && !recalibration.recalibrate_on_labeling) return null;
  const asking = fired.filter((f) => recalibration.rules.includes(f.rule.name));
  if (asking.length === 0) return null;
  return {
    model: record.model_name,
    modelVersion: record.model_version,
    cohortId: record.cohort_id,
    labelDefinition: `${record.label_definition_name}@${record.label_definition_version}`,
    requireApproval: recalibration.require_approval,
    method: recalibration.method,
    every: recalibration.every,
    everyMs: fixedDurationMs(recalibration.every) ?? durationBounds(recalibration.every).min * 1000,
    trainPeriods: recalibration.train_periods,
    holdoutPeriods: recalibration.holdout_periods,
    rules: asking.map((f) => f.rule.name),
    alertId: Number(asking[0]!.alerts[0]!.alert_id),
  };
}
