import type { Knex } from 'knex';
import {
  sliceLabel,
  type AlertSummary,
  type MonitoringOutcome,
  type RecalibrationRequest,
  type RetrainingEvidence,
} from '../../contracts/monitoring';
import type { Diagnosis } from '../diagnose/diagnose';
import { loadCohort } from '../evaluate/cohorts';
import { recalibrationRequest, retrainingEvidence } from './actions';
import { cohortAlerts, recordJudgements, type AlertRow } from './alert-store';
import { JudgingContext, readSnapshot, type MonitoringDependencies } from './judging-context';
import type { GroupJudgement } from './judge';
import { policiesInForce, type PolicyRule } from './policy';

/**
 * Runs the rules of every policy in force on one moment of a cohort's life (docs/alerts.md):
 * at its close (label-free rules: score PSI, estimated drop) or after a snapshot (the rest),
 * then records each group's verdict in `alerts` (one row per rule, cohort and slice), queues
 * webhook notifications in the outbox, and says whether retraining or recalibration is asked.
 * Idempotent: judging the same snapshot again changes no state and queues nothing new.
 */

export type { Diagnosis };

export interface ApplyPolicyInput {
  cohortId: string;
  /** The snapshot to judge; null judges the cohort at its close, before any label. */
  snapshotId: number | null;
}

/**
 * Rules whose alerts carry the cohort's diagnosis: those about the model, which may be the
 * labels' fault, and label availability, where the diagnosis says whether the labels alone are.
 */
const DIAGNOSED = new Set<PolicyRule['kind']>([
  'relative_drop',
  'floor',
  'ceiling',
  'estimated_drop',
  'projected_drop',
  'label_availability',
]);

/** Each group's verdict with its reason: what an operator reads to see why a slice did not fire. */
export interface RuleJudgement extends GroupJudgement {
  policy: string;
  rule: string;
  slice: string;
}

export async function applyMonitoringPolicy(
  db: Knex,
  deps: MonitoringDependencies,
  input: ApplyPolicyInput,
): Promise<MonitoringOutcome & { judgements: RuleJudgement[] }> {
  const { record, definition } = await loadCohort(db, input.cohortId);
  const policies = await policiesInForce(db, record.model_name, record.label_definition_name);
  const outcome = {
    policies: policies.map((p) => `${p.name}@${p.version}`),
    alerts: [] as AlertSummary[],
    notifications: 0,
    retraining: null as RetrainingEvidence | null,
    recalibration: null as RecalibrationRequest | null,
    judgements: [] as RuleJudgement[],
  };
  if (policies.length === 0) return outcome;

  const snapshot = input.snapshotId === null ? null : await readSnapshot(db, input.snapshotId);
  const context = new JudgingContext(db, deps, record, definition, snapshot);
  for (const policy of policies) {
    const fired: Array<{ rule: PolicyRule; alerts: AlertRow[] }> = [];
    for (const rule of policy.rules) {
      if (!context.applies(rule)) continue;
      const judgements = await context.judge(rule);
      if (judgements.length === 0) continue;
      outcome.judgements.push(
        ...judgements.map((j) => ({
          ...j,
          policy: `${policy.name}@${policy.version}`,
          rule: rule.name,
          slice: sliceLabel(j.dimension, j.value),
        })),
      );
      const diagnosis = DIAGNOSED.has(rule.kind) && judgements.some((j) => j.verdict === 'fire') ? await context.diagnosis() : null;
      const changes = await recordJudgements(db, { policy, rule, record, snapshot, judgements, diagnosis });
      outcome.notifications += changes.notifications;
      const newlyFiring = changes.transitions.filter((t) => t.state === 'firing');
      if (newlyFiring.length > 0) fired.push({ rule, alerts: newlyFiring });
    }
    outcome.retraining ??= retrainingEvidence(policy, record, snapshot, fired, await context.verdictIfComputed());
    outcome.recalibration ??= recalibrationRequest(policy, record, fired, await context.verdictIfComputed());
  }
  outcome.alerts = await cohortAlerts(db, record.cohort_id);
  return outcome;
}
