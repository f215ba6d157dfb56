import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { cohortRecordFromRow, loadCohort } from '../evaluate/cohorts';
import { EmptyCohortError, type DiagnoseCohortInput, type Diagnosis } from '../diagnose/diagnose';
import { computeDrift } from '../diagnose/drift';
import { type CohortRecord } from '../../contracts/cohort';
import type { ProjectedMetrics, EvaluationDocument, GroupMetrics, SliceMetrics } from '../../contracts/evaluation';
import type { CohortSelector } from '../../contracts/cohort';
import type { EstimatedGroup, EstimatedPerformance } from '../estimate/cbpe';
import { durationBounds, fixedDurationMs } from '../../contracts/iso-duration';
import { LabelDefinitionError, type LabelDefinition } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { judgeRule, measure, poolBaseline, type GroupInput, type GroupJudgement, type JudgedRule, type Measured } from './judge';
import { Z95 } from '../../stats/statistics';
import { policiesInForce, runbookFor, type MonitoringPolicy, type PolicyRule } from './policy';
import type { AlertState, AlertSummary, MonitoringOutcome, RecalibrationRequest, RetrainingEvidence } from '../../contracts/monitoring';

/**
 * Runs the rules of every policy in force on one moment of a cohort's life (docs/alerts.md):
 * at its close (label-free rules: score PSI, estimated drop) or after a snapshot (the rest),
 * then records each group's verdict in `alerts` (one row per rule, cohort and slice), queues
 * webhook notifications in the outbox, and says whether retraining or recalibration is asked.
 * Idempotent: judging the same snapshot again changes no state and queues nothing new.
 */

export type { Diagnosis };

/** The estimators monitoring uses, injected so each is tested on its own. */
export interface MonitoringDependencies {
  estimatePerformance: (db: Knex, cohort: CohortSelector, definition: LabelDefinition) => Promise<EstimatedPerformance>;
  /** Absent, alerts carry no diagnosis. */
  diagnose?: (db: Knex, input: DiagnoseCohortInput) => Promise<Diagnosis>;
}

export interface ApplyPolicyInput {
  cohortId: string;
  /** The snapshot to judge; null judges the cohort at its close, before any label. */
  snapshotId: number | null;
}

interface PriorCohort {
  record: CohortRecord;
  snapshotId: number | null;
  asOf: string | null;
  overall: GroupMetrics | null;
  slices: SliceMetrics[];
}

const OVERALL = { dimension: '', value: null as string | null };
export const sliceLabel = (dimension: string, value: string | null): string => (dimension === '' ? 'overall' : `${dimension}=${value ?? 'null'}`);
const groupKey = (dimension: string, value: string | null): string => JSON.stringify([dimension, value]);

/** Rules judged at the cohort's close, from scores alone. */
const AT_CLOSE = new Set<PolicyRule['kind']>(['score_psi', 'estimated_drop']);
/**
 * Rules whose alerts carry the cohort's diagnosis: those about the model, which may be the
 * labels' fault, and label availability, where the diagnosis says whether the labels alone are.
 */
const DIAGNOSED = new Set<PolicyRule['kind']>(['relative_drop', 'floor', 'ceiling', 'estimated_drop', 'projected_drop', 'label_availability']);

/** Each group's verdict with its reason: what an operator reads to see why a slice did not fire. */
export interface RuleJudgement extends GroupJudgement {
  policy: string;
  rule: string;
  slice: string;
}

export async function applyMonitoringPolicy(db: Knex, deps: MonitoringDependencies, input: ApplyPolicyInput): Promise<MonitoringOutcome & { judgements: RuleJudgement[] }> {
  const { record, definition } = await loadCohort(db, input.cohortId);
  const policies = await policiesInForce(db, record.model_name, record.label_definition_name);
  const outcome = { policies: policies.map((p) => `${p.name}@${p.version}`), alerts: [] as AlertSummary[], notifications: 0, retraining: null as RetrainingEvidence | null, recalibration: null as RecalibrationRequest | null, judgements: [] as RuleJudgement[] };
  if (policies.length === 0) return outcome;

  const snapshot = input.snapshotId === null ? null : await readSnapshot(db, input.snapshotId);
  const context = new JudgingContext(db, deps, record, definition, snapshot);
  for (const policy of policies) {
    const fired: Array<{ rule: PolicyRule; alerts: AlertRow[] }> = [];
    for (const rule of policy.rules) {
      if (!context.applies(rule)) continue;
      const judgements = await context.judge(rule);
      if (judgements.length === 0) continue;
      outcome.judgements.push(...judgements.map((j) => ({ ...j, policy: `${policy.name}@${policy.version}`, rule: rule.name, slice: sliceLabel(j.dimension, j.value) })));
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

interface JudgedSnapshot {
  snapshotId: number;
  checkpoint: string;
  revision: number;
  asOf: string;
  document: EvaluationDocument;
}

async function readSnapshot(db: Knex, snapshotId: number): Promise<JudgedSnapshot> {
  const row = await db('metric_snapshots').where({ snapshot_id: snapshotId }).first('snapshot_id', 'checkpoint', 'revision', 'as_of', 'document');
  if (!row) throw new Error(`snapshot ${snapshotId} does not exist`);
  return { snapshotId: Number(row.snapshot_id), checkpoint: row.checkpoint, revision: row.revision, asOf: toUtcIso(row.as_of), document: row.document };
}

/** Everything one judgement needs, each read at most once: prior cohorts, estimates, the diagnosis. */
class JudgingContext {
  private readonly priors = new Map<string, Promise<PriorCohort[]>>();
  private estimates: Promise<EstimatedPerformance> | null = null;
  private diagnosed: Promise<Diagnosis | null> | null = null;

  constructor(
    private readonly db: Knex,
    private readonly deps: MonitoringDependencies,
    private readonly record: CohortRecord,
    private readonly definition: LabelDefinition,
    private readonly snapshot: JudgedSnapshot | null,
  ) {}

  applies(rule: PolicyRule): boolean {
    if (rule.kind === 'stalled_feed') return false;
    if (this.snapshot === null) return AT_CLOSE.has(rule.kind);
    if (AT_CLOSE.has(rule.kind)) return false;
    if (rule.kind === 'projected_drop' && (this.snapshot.checkpoint === 'final' || !this.snapshot.document.projected)) return false;
    return !rule.checkpoints || rule.checkpoints.includes(this.snapshot.checkpoint);
  }

  async judge(rule: PolicyRule): Promise<GroupJudgement[]> {
    switch (rule.kind) {
      case 'score_psi':
        return this.judgePsi(rule);
      case 'stalled_feed':
        return [];
      default:
        return judgeRule(rule, await this.groups(rule));
    }
  }

  /** The cohort's diagnosis against the cohort before it, judged at the same maturity. */
  diagnosis(): Promise<Diagnosis | null> {
    this.diagnosed ??= (async () => {
      const [previous] = await this.prior('', 1, false);
      if (!previous || !this.deps.diagnose) return null;
      const asOf = this.snapshot?.asOf ?? this.record.end;
      const lag = Date.parse(asOf) - Date.parse(this.record.end);
      const baselineAsOf = new Date(Date.parse(previous.record.end) + lag).toISOString();
      try {
        return await this.deps.diagnose(this.db, { cohort: this.record, baseline: previous.record, definition: this.definition, asOf, baselineAsOf });
      } catch (error) {
        // A baseline period without predictions, or a regression definition, has no diagnosis; the alert stands without one.
        if (error instanceof EmptyCohortError || error instanceof LabelDefinitionError) return null;
        throw error;
      }
    })();
    return this.diagnosed;
  }

  async verdictIfComputed(): Promise<string | null> {
    return this.diagnosed ? ((await this.diagnosed)?.verdict ?? null) : null;
  }

  /**
   * Earlier cohorts of the same model, label definition and environment (any model version,
   * so a new version is judged against the one it replaced), newest first, with their
   * latest snapshot at `checkpoint` ('' for none needed); `finalized` keeps those with a final one.
   */
  private prior(checkpoint: string, count: number, finalized: boolean): Promise<PriorCohort[]> {
    const key = JSON.stringify([checkpoint, count, finalized]);
    let found = this.priors.get(key);
    if (!found) {
      found = readPriorCohorts(this.db, this.record, checkpoint, count, finalized);
      this.priors.set(key, found);
    }
    return found;
  }

  private selected(rule: PolicyRule): (dimension: string) => boolean {
    return (dimension) => dimension === '' || rule.slices.includes(dimension);
  }

  /** The groups of a judged rule: observed values with their samples, and baselines where the rule has one. */
  private async groups(rule: JudgedRule): Promise<GroupInput[]> {
    const keep = this.selected(rule);
    if (rule.kind === 'estimated_drop') {
      const current = await this.estimate();
      const priors = await this.prior('', rule.baseline.kind === 'previous' ? 1 : rule.baseline.k, rule.baseline.kind !== 'previous');
      const baselines = await Promise.all(priors.map((p) => this.deps.estimatePerformance(this.db, p.record, this.definition)));
      return estimatedGroups(current, keep).map((group) => ({
        ...group,
        observed: measureEstimate(group.metrics, rule.metric),
        baseline: poolBaseline(
          baselines.flatMap((b) => {
            const match = estimatedGroups(b, keep).find((g) => groupKey(g.dimension, g.value) === groupKey(group.dimension, group.value));
            return match ? [measureEstimate(match.metrics, rule.metric)] : [];
          }),
        ),
      }));
    }

    const snapshot = this.snapshot!;
    const groups = snapshotGroups(snapshot.document, keep);
    if (rule.kind === 'floor' || rule.kind === 'ceiling') {
      return groups.map((g) => ({ dimension: g.dimension, value: g.value, n: g.metrics.n, observed: measure(g.metrics, rule.metric) }));
    }
    if (rule.kind === 'projected_drop') {
      const projected = snapshot.document.projected!;
      const priors = await this.prior('final', rule.baseline.kind === 'previous' ? 1 : rule.baseline.k, true);
      return groups.flatMap((g) => {
        const block = g.dimension === '' ? projected.overall : projected.slices.find((s) => s.dimension === g.dimension && s.value === g.value);
        if (!block) return [];
        const value = block[rule.metric];
        const observed: Measured = {
          value: value.projected,
          sample: value.ci_low !== null && value.ci_high !== null ? { kind: 'interval', low: value.ci_low, high: value.ci_high } : null,
        };
        return [{ dimension: g.dimension, value: g.value, n: g.metrics.n, observed, baseline: poolBaseline(priorMeasures(priors, g, (m) => measureWithRate(m, rule.metric))) }];
      });
    }
    // relative_drop and label_availability compare with earlier cohorts at the same checkpoint.
    const read = rule.kind === 'label_availability' ? labeledShare : (m: GroupMetrics) => measure(m, rule.metric);
    const priors =
      rule.kind === 'label_availability'
        ? await this.prior(snapshot.checkpoint, rule.history, true)
        : await this.prior(snapshot.checkpoint, rule.baseline.kind === 'previous' ? 1 : rule.baseline.k, rule.baseline.kind !== 'previous');
    return groups.map((g) => ({
      dimension: g.dimension,
      value: g.value,
      n: g.metrics.n,
      observed: read(g.metrics),
      baseline: poolBaseline(priorMeasures(priors, g, read)),
    }));
  }

  private estimate(): Promise<EstimatedPerformance> {
    this.estimates ??= this.deps.estimatePerformance(this.db, this.record, this.definition);
    return this.estimates;
  }

  /** PSI of the score (and the named features) against the cohort before; a magnitude, so no test. */
  private async judgePsi(rule: Extract<PolicyRule, { kind: 'score_psi' }>): Promise<GroupJudgement[]> {
    const [previous] = await this.prior('', 1, false);
    if (!previous) return [];
    const drift = await computeDrift(this.db, { model_name: this.record.model_name, reference: previous.record, current: this.record, features: rule.features });
    return drift.variables.map((variable) => {
      const fires = variable.psi !== null && variable.psi > rule.max;
      const small = variable.n_current < rule.min_slice_size;
      return {
        dimension: 'variable',
        value: variable.variable,
        n: variable.n_current,
        verdict: small ? 'suppressed' : fires ? 'fire' : 'clear',
        reason: small
          ? `${variable.n_current} predictions, fewer than min_slice_size ${rule.min_slice_size}`
          : `PSI of ${variable.variable} ${variable.psi ?? 'undefined'} against cohort ${previous.record.cohort_id} (bound ${rule.max})`,
        observed: variable.psi,
        baseline: rule.max,
        relative_change: null,
        interval: null,
        p_value: null,
      };
    });
  }
}

function snapshotGroups(document: EvaluationDocument, keep: (dimension: string) => boolean): Array<{ dimension: string; value: string | null; metrics: GroupMetrics }> {
  return [{ ...OVERALL, metrics: document.overall }, ...document.slices.filter((s) => keep(s.dimension)).map((s) => ({ dimension: s.dimension, value: s.value, metrics: s }))];
}

function estimatedGroups(estimate: EstimatedPerformance, keep: (dimension: string) => boolean): Array<{ dimension: string; value: string | null; n: number; metrics: EstimatedGroup }> {
  return [{ ...OVERALL, n: estimate.overall.n, metrics: estimate.overall }, ...estimate.slices.filter((s) => keep(s.dimension)).map((s) => ({ dimension: s.dimension, value: s.value, n: s.n, metrics: s }))];
}

function priorMeasures(priors: PriorCohort[], group: { dimension: string; value: string | null }, read: (metrics: GroupMetrics) => Measured): Measured[] {
  return priors.flatMap((prior) => {
    const metrics = group.dimension === '' ? prior.overall : prior.slices.find((s) => s.dimension === group.dimension && s.value === group.value);
    return metrics ? [read(metrics)] : [];
  });
}

/**
 * The share of predictions labeled by the snapshot's moment (`n_labeled / n`): at a checkpoint
 * what has arrived so far, where `label_availability` (`n_final / n`) counts only settled
 * labels and is 0 before the window ends under `absent_means: unknown`.
 */
function labeledShare(metrics: GroupMetrics): Measured {
  if (metrics.n === 0) return { value: null, sample: null };
  return { value: metrics.n_labeled / metrics.n, sample: { kind: 'proportion', x: metrics.n_labeled, n: metrics.n } };
}

/** A snapshot metric, or its positive rate (positives among all predictions), for projections' baselines. */
function measureWithRate(metrics: GroupMetrics, metric: string): Measured {
  if (metric !== 'positive_rate') return measure(metrics, metric);
  if (!('n_positive' in metrics) || metrics.n === 0) return { value: null, sample: null };
  return { value: metrics.n_positive / metrics.n, sample: { kind: 'proportion', x: metrics.n_positive, n: metrics.n } };
}

/** An estimate with its standard error (docs/diagnose.md) as the gate's sample. */
function measureEstimate(group: EstimatedGroup, metric: 'precision' | 'recall' | 'roc_auc'): Measured {
  const value = group[metric];
  const se = group.standard_error[metric];
  if (value === null || se === null) return { value, sample: null };
  return { value, sample: { kind: 'interval', low: value - Z95 * se, high: value + Z95 * se } };
}

async function readPriorCohorts(db: Knex, record: CohortRecord, checkpoint: string, count: number, finalized: boolean): Promise<PriorCohort[]> {
  const { rows } = await db.raw(
    `select c.cohort_id, c.model_name, c.model_version, c.environment, c.start_ts, c.end_ts,
            c.label_definition_name, c.label_definition_version,
            s.snapshot_id, s.as_of, s.document->'overall' as overall, s.document->'slices' as slices
     from cohorts c
     left join lateral (
       select snapshot_id, as_of, document from metric_snapshots s
       where s.cohort_id = c.cohort_id and s.checkpoint = :checkpoint
         and s.label_definition_name = c.label_definition_name and s.label_definition_version = c.label_definition_version
       order by s.revision desc limit 1
     ) s on true
     where c.model_name = :model and c.label_definition_name = :ldn and c.label_definition_version = :ldv
       and c.environment is not distinct from :environment and c.start_ts < :start
       and (:checkpoint = '' or s.snapshot_id is not null)
       and (not :finalized or exists (select 1 from metric_snapshots f where f.cohort_id = c.cohort_id and f.checkpoint = 'final'))
     order by c.start_ts desc
     limit :count`,
    {
      checkpoint,
      model: record.model_name,
      ldn: record.label_definition_name,
      ldv: record.label_definition_version,
      environment: record.environment,
      start: toUtcIso(record.start),
      finalized,
      count,
    },
  );
  return rows.map((row: Record<string, any>) => ({
    record: cohortRecordFromRow(row),
    snapshotId: row.snapshot_id === null ? null : Number(row.snapshot_id),
    asOf: row.as_of === null ? null : toUtcIso(row.as_of),
    overall: row.overall,
    slices: row.slices ?? [],
  }));
}

interface AlertRow {
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
async function recordJudgements(
  db: Knex,
  input: { policy: MonitoringPolicy; rule: PolicyRule; record: CohortRecord; snapshot: JudgedSnapshot | null; judgements: GroupJudgement[]; diagnosis: Diagnosis | null },
): Promise<{ transitions: AlertRow[]; notifications: number }> {
  const { policy, rule, record, snapshot } = input;
  const moment = snapshot ? `snapshot ${snapshot.snapshotId}` : 'close';
  return db.transaction(async (trx) => {
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
        metric: 'metric' in rule ? rule.metric : rule.kind === 'label_availability' ? 'label_availability' : rule.kind === 'score_psi' ? 'psi' : null,
        observed: judgement.observed,
        baseline: judgement.baseline,
        ci_low: judgement.interval?.low ?? null,
        ci_high: judgement.interval?.high ?? null,
        p_value: judgement.p_value,
        evidence: { reason: judgement.reason, n: judgement.n, relative_change: judgement.relative_change, judged_at: moment },
        updated_at: now,
      };
      let transition: AlertState | null = null;
      let row: AlertRow | undefined;
      if (judgement.verdict === 'fire') {
        if (!existing) {
          [row] = await trx('alerts')
            .insert({
              ...values,
              dedup_key: dedupKey,
              policy_name: policy.name,
              rule_name: rule.name,
              rule_kind: rule.kind,
              model_name: record.model_name,
              cohort_id: record.cohort_id,
              slice_dimension: judgement.dimension,
              slice_value: judgement.value,
              state: 'firing',
              diagnosis: input.diagnosis,
              runbook: runbookFor(rule),
              fired_at: now,
            })
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
        [row] = await trx('alerts').where({ alert_id: existing.alert_id }).update({ ...values, state: 'retracted', cleared_at: now }).returning(ALERT_COLUMNS);
        transition = 'retracted';
      } else {
        continue;
      }
      if (transition === null) continue;
      transitions.push(row!);
      notifications += await queueAlertNotification(trx, policy, Number(row!.alert_id), transition, moment);
    }
    return { transitions, notifications };
  });
}

const ALERT_COLUMNS = ['alert_id', 'rule_name', 'slice_dimension', 'slice_value', 'state', 'observed', 'baseline'];

/**
 * Queues one alert transition for the policy's webhook (none without one), keyed by the alert,
 * the transition and the moment judged, so a retried judgement queues nothing new. Returns how
 * many it queued (0 or 1).
 */
export async function queueAlertNotification(trx: Knex.Transaction, policy: MonitoringPolicy, alertId: number, transition: AlertState, moment: string): Promise<number> {
  const webhook = policy.notifications.webhook;
  if (!webhook) return 0;
  const key = createHash('sha256').update(JSON.stringify([alertId, transition, moment])).digest('hex');
  const alert = await trx('alerts').where({ alert_id: alertId }).first();
  const inserted = await trx('alert_notifications')
    .insert({ idempotency_key: key, alert_id: alertId, transition, url: webhook.url, payload: { idempotency_key: key, transition, alert: alertPayload(alert) } })
    .onConflict('idempotency_key')
    .ignore()
    .returning('idempotency_key');
  return inserted.length;
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

function retrainingEvidence(
  policy: MonitoringPolicy,
  record: CohortRecord,
  snapshot: JudgedSnapshot | null,
  fired: Array<{ rule: PolicyRule; alerts: AlertRow[] }>,
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
      f.alerts.map((a) => ({ alertId: Number(a.alert_id), rule: a.rule_name, slice: sliceLabel(a.slice_dimension, a.slice_value), observed: a.observed, baseline: a.baseline })),
    ),
    verdict,
    retrainOnLabeling: retraining.retrain_on_labeling,
    quietPeriod: retraining.quiet_period,
    quietPeriodMs: fixedDurationMs(retraining.quiet_period) ?? durationBounds(retraining.quiet_period).min * 1000,
    hook: 'webhook' in retraining.hook ? { webhook: { url: retraining.hook.webhook.url, headers: retraining.hook.webhook.headers } } : retraining.hook,
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
