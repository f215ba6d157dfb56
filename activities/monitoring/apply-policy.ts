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
import { cohortAlerts, notificationDestinations, recordJudgements, type AlertRow } from './alert-store';
import { JudgingContext, readSnapshot, type DiagnosisFailure, type MonitoringDependencies } from './judging-context';
import type { GroupJudgement } from './judge';
import { policiesInForce, type MonitoringPolicy, type PolicyRule } from './policy';
import { deliveryStates, pendingDestinations } from '../delivery/outbox';

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
  /** Wake the delivery workflows of the notifications it queued (workflows started under the delivery patch). */
  wakeDeliveries?: boolean;
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

/** A rule that threw: one judgement of the whole cohort in state `error`, with the reason. */
function errorJudgement(error: unknown): GroupJudgement {
  const reason = `could not judge this rule: ${error instanceof Error ? error.message : String(error)}`;
  return {
    dimension: '',
    value: null,
    n: 0,
    verdict: 'error',
    reason,
    observed: null,
    baseline: null,
    relative_change: null,
    interval: null,
    p_value: null,
  };
}

/** The most alerts a judgement hands its workflow (the history keeps it; the table keeps all). */
export const ALERTS_IN_OUTCOME = 50;

interface Asks {
  retraining: RetrainingEvidence | null;
  recalibration: RecalibrationRequest | null;
  /** The destinations this judgement queued notifications for (absent from judgements recorded before). */
  destinations?: string[];
}

/**
 * How far an attempt got in judging a moment of a cohort: each rule's groups (by
 * `policy@version/rule`) and the diagnosis, once made. A retry after a lost worker resumes
 * from it instead of judging every rule again; the write, all at the end, is not in it.
 */
export interface JudgementProgress {
  moment: string;
  rules: Record<string, GroupJudgement[]>;
  diagnosis?: Diagnosis | DiagnosisFailure | null;
}

/** Where progress goes (the activity's heartbeat details) and what an earlier attempt left there. */
export interface Checkpointing {
  resumed: unknown;
  save(progress: JudgementProgress): void;
}

/** Progress is checkpointed while it serializes to less than this: heartbeat details are small. */
export const PROGRESS_LIMIT_BYTES = 256 * 1024;

const resumable = (resumed: unknown, moment: string): JudgementProgress | null =>
  typeof resumed === 'object' && resumed !== null && (resumed as JudgementProgress).moment === moment
    ? (resumed as JudgementProgress)
    : null;

export async function applyMonitoringPolicy(
  db: Knex,
  deps: MonitoringDependencies,
  input: ApplyPolicyInput,
  checkpointing?: Checkpointing,
): Promise<MonitoringOutcome & { judgements: RuleJudgement[] }> {
  const { record, definition } = await loadCohort(db, input.cohortId);
  const policies = await policiesInForce(db, record.model_name, record.label_definition_name);
  const outcome = {
    policies: policies.map((p) => `${p.name}@${p.version}`),
    alerts: [] as AlertSummary[],
    alertCount: 0,
    notifications: 0,
    undeliverable: 0,
    destinations: [] as string[],
    retraining: null as RetrainingEvidence | null,
    recalibration: null as RecalibrationRequest | null,
    judgements: [] as RuleJudgement[],
  };
  if (policies.length === 0) return outcome;

  // First every rule's outcome, read from the database but written nowhere: a rule that
  // throws is an `error` judgement, and the rest are judged all the same.
  const snapshot = input.snapshotId === null ? null : await readSnapshot(db, input.snapshotId);
  const moment = snapshot ? `snapshot ${snapshot.snapshotId}` : 'close';
  const context = new JudgingContext(db, deps, record, definition, snapshot);
  const resumed = resumable(checkpointing?.resumed, moment);
  if (resumed && 'diagnosis' in resumed) context.seedDiagnosis(resumed.diagnosis ?? null);
  const progress: JudgementProgress = { moment, rules: { ...resumed?.rules } };
  let checkpointed = true;
  const judged: Array<{
    policy: MonitoringPolicy;
    rule: PolicyRule;
    judgements: GroupJudgement[];
    diagnosis: Diagnosis | DiagnosisFailure | null;
  }> = [];
  for (const policy of policies) {
    for (const rule of policy.rules) {
      if (!context.applies(rule)) continue;
      const key = `${policy.name}@${policy.version}/${rule.name}`;
      const judgements = progress.rules[key] ?? (await context.judge(rule).catch((error: unknown) => [errorJudgement(error)]));
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
      judged.push({ policy, rule, judgements, diagnosis });
      if (checkpointing && checkpointed && !(key in progress.rules)) {
        progress.rules[key] = judgements;
        if (diagnosis) progress.diagnosis = diagnosis;
        // Past the limit the checkpoint stays where it was: a retry redoes the rest.
        checkpointed = JSON.stringify(progress).length < PROGRESS_LIMIT_BYTES;
        if (checkpointed) checkpointing.save(progress);
      }
    }
  }
  const verdict = await context.verdictIfComputed();

  // Then all of it recorded in one transaction, once per moment of the cohort: a retry (a
  // lost worker, a timeout) finds the judgement recorded and hands on the same asks.
  const asks = await db.transaction(async (trx): Promise<Asks> => {
    const claimed = await trx('monitoring_judgements')
      .insert({ cohort_id: record.cohort_id, moment, asks: { retraining: null, recalibration: null } })
      .onConflict(['cohort_id', 'moment'])
      .ignore()
      .returning('moment');
    if (claimed.length === 0) {
      return (await trx('monitoring_judgements').where({ cohort_id: record.cohort_id, moment }).first('asks')).asks as Asks;
    }
    const fired = new Map<MonitoringPolicy, Array<{ rule: PolicyRule; alerts: AlertRow[] }>>();
    const destinations = new Set<string>();
    for (const { policy, rule, judgements, diagnosis } of judged) {
      const changes = await recordJudgements(trx, { policy, rule, record, snapshot, judgements, diagnosis });
      if (changes.notifications > 0) for (const { destination } of notificationDestinations(policy)) destinations.add(destination);
      const newlyFiring = changes.transitions.filter((t) => t.state === 'firing');
      if (newlyFiring.length > 0) fired.set(policy, [...(fired.get(policy) ?? []), { rule, alerts: newlyFiring }]);
    }
    const recorded: Asks = { retraining: null, recalibration: null, destinations: [...destinations].sort() };
    for (const policy of policies) {
      recorded.retraining ??= retrainingEvidence(policy, record, snapshot, fired.get(policy) ?? [], verdict);
      recorded.recalibration ??= recalibrationRequest(policy, record, fired.get(policy) ?? [], verdict);
    }
    await trx('monitoring_judgements').where({ cohort_id: record.cohort_id, moment }).update({ asks: recorded });
    return recorded;
  });
  outcome.retraining = asks.retraining;
  outcome.recalibration = asks.recalibration;

  // The destinations this judgement queued for and that still wait (a retry hands them on again).
  const waiting = new Set(await pendingDestinations(db, record.cohort_id));
  outcome.destinations = (asks.destinations ?? []).filter((destination) => waiting.has(destination));
  const deliveries = await deliveryStates(db, record.cohort_id);
  outcome.notifications = deliveries.pending;
  outcome.undeliverable = deliveries.refused + deliveries.expired;
  const alerts = await cohortAlerts(db, record.cohort_id);
  outcome.alertCount = alerts.length;
  outcome.alerts = alerts.slice(0, ALERTS_IN_OUTCOME);
  return outcome;
}
