/**
 * What one judgement reads, each at most once: the snapshot judged, the earlier cohorts a rule
 * compares with, the label-free estimates and the cohort's diagnosis; and the groups (overall
 * and slices) each rule kind judges, with their observed values, samples and baselines.
 */
import type { Knex } from 'knex';
import type { CohortRecord, CohortSelector } from '../../contracts/cohort';
import type { EvaluationDocument, GroupMetrics, SliceMetrics } from '../../contracts/evaluation';
import { LabelDefinitionError, type LabelDefinition } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { PRIOR_COHORTS, type PriorCohortBindings } from '../../sql/prior-cohorts';
import { Z95 } from '../../stats/statistics';
import { EmptyCohortError, type DiagnoseCohortInput, type Diagnosis } from '../diagnose/diagnose';
import { computeDrift } from '../diagnose/drift';
import { calibrationFor, type EstimatedGroup, type EstimatedPerformance, type ScoreCalibration } from '../estimate/cbpe';
import { realizedReferenceBand, type ChunkedRange } from '../estimate/estimate-chunks';
import type { ChunkMetric } from '../../stats/cbpe-estimate';
import { cohortRecordFromRow } from '../evaluate/cohorts';
import {
  judgeRule,
  measure,
  poolBaseline,
  type BandLimits,
  type GroupInput,
  type GroupJudgement,
  type JudgedRule,
  type Measured,
} from './judge';
import type { BandBaseline, PolicyRule } from './policy';

/** The estimators monitoring uses, injected so each is tested on its own. */
export interface MonitoringDependencies {
  /** `calibrated` absent: the scores read as they are. */
  estimatePerformance: (
    db: Knex,
    cohort: CohortSelector,
    definition: LabelDefinition,
    calibrated?: ScoreCalibration,
  ) => Promise<EstimatedPerformance>;
  /** Absent, alerts carry no diagnosis. */
  diagnose?: (db: Knex, input: DiagnoseCohortInput) => Promise<Diagnosis>;
}

interface PriorCohort {
  record: CohortRecord;
  snapshotId: number | null;
  asOf: string | null;
  overall: GroupMetrics | null;
  slices: SliceMetrics[];
}

const OVERALL = { dimension: '', value: null as string | null };
const groupKey = (dimension: string, value: string | null): string => JSON.stringify([dimension, value]);
/** How many earlier cohorts a previous or mean_of_last baseline pools. */
const priorCount = (baseline: { kind: string; k?: number }): number => (baseline.kind === 'mean_of_last' ? baseline.k! : 1);

/** Rules judged at the cohort's close, from scores alone. */
const AT_CLOSE = new Set<PolicyRule['kind']>(['score_psi', 'estimated_drop']);
/** A diagnosis that could not be made, as the alert carries it. */
export interface DiagnosisFailure {
  verdict: null;
  error: string;
}

export interface JudgedSnapshot {
  snapshotId: number;
  checkpoint: string;
  revision: number;
  asOf: string;
  document: EvaluationDocument;
}

export async function readSnapshot(db: Knex, snapshotId: number): Promise<JudgedSnapshot> {
  const row = await db('metric_snapshots')
    .where({ snapshot_id: snapshotId })
    .first('snapshot_id', 'checkpoint', 'revision', 'as_of', 'document');
  if (!row) throw new Error(`snapshot ${snapshotId} does not exist`);
  return {
    snapshotId: Number(row.snapshot_id),
    checkpoint: row.checkpoint,
    revision: row.revision,
    asOf: toUtcIso(row.as_of),
    document: row.document,
  };
}

/** Everything one judgement needs, each read at most once: prior cohorts, estimates, the diagnosis. */
export class JudgingContext {
  private readonly priors = new Map<string, Promise<PriorCohort[]>>();
  private readonly estimates = new Map<string, Promise<{ calibrated: ScoreCalibration; estimate: EstimatedPerformance }>>();
  private readonly bands = new Map<string, ReturnType<typeof realizedReferenceBand>>();
  private diagnosed: Promise<Diagnosis | DiagnosisFailure | null> | null = null;

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
  diagnosis(): Promise<Diagnosis | DiagnosisFailure | null> {
    this.diagnosed ??= (async () => {
      const [previous] = await this.prior('', 1, false);
      if (!previous || !this.deps.diagnose) return null;
      const asOf = this.snapshot?.asOf ?? this.record.end;
      const lag = Date.parse(asOf) - Date.parse(this.record.end);
      const baselineAsOf = new Date(Date.parse(previous.record.end) + lag).toISOString();
      try {
        return await this.deps.diagnose(this.db, {
          cohort: this.record,
          baseline: previous.record,
          definition: this.definition,
          asOf,
          baselineAsOf,
        });
      } catch (error) {
        // A baseline period without predictions, or a regression definition, has no diagnosis; the alert stands without one.
        if (error instanceof EmptyCohortError || error instanceof LabelDefinitionError) return null;
        // Any other failure is said on the alert; the alert and the rest of the judgement stand.
        return { verdict: null, error: `the diagnosis failed: ${(error as Error).message}` };
      }
    })();
    return this.diagnosed;
  }

  /** The diagnosis an earlier attempt made (its checkpoint), so it is not made again. */
  seedDiagnosis(diagnosis: Diagnosis | DiagnosisFailure | null): void {
    this.diagnosed = Promise.resolve(diagnosis);
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
      const where = `rule ${rule.name}: calibrate`;
      if (rule.baseline.kind === 'band') {
        // Calibrated on the band's reference range, as `hindsight estimate` calibrates on its reference.
        const range = this.bandRange(rule.baseline);
        const reference = { model_name: this.record.model_name, ...range, start: range.from, end: range.to };
        const { estimate } = await this.estimate([reference], rule.calibrate, where);
        return [
          {
            ...OVERALL,
            n: estimate.overall.n,
            observed: measureEstimate(estimate.overall, rule.metric),
            band: await this.band(rule.baseline, rule.metric),
          },
        ];
      }
      const priors = await this.prior('', priorCount(rule.baseline), rule.baseline.kind !== 'previous');
      // Calibrated on the baseline cohorts' labeled predictions; the baselines are read through the same calibrator.
      const { calibrated, estimate: current } = await this.estimate(
        priors.map((p) => p.record),
        rule.calibrate,
        where,
      );
      const baselines = await Promise.all(priors.map((p) => this.deps.estimatePerformance(this.db, p.record, this.definition, calibrated)));
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
      const priors = await this.prior('final', priorCount(rule.baseline), true);
      return groups.flatMap((g) => {
        const block =
          g.dimension === '' ? projected.overall : projected.slices.find((s) => s.dimension === g.dimension && s.value === g.value);
        if (!block) return [];
        const value = block[rule.metric];
        const bounded = value.ci_low !== null && value.ci_high !== null;
        const observed: Measured = {
          value: value.projected,
          sample: bounded ? { kind: 'interval', low: value.ci_low!, high: value.ci_high! } : null,
          interval: bounded ? { low: value.ci_low!, high: value.ci_high!, method: 'projection' } : null,
        };
        return [
          {
            dimension: g.dimension,
            value: g.value,
            n: g.metrics.n,
            observed,
            baseline: poolBaseline(priorMeasures(priors, g, (m) => measureWithRate(m, rule.metric))),
          },
        ];
      });
    }
    if (rule.kind === 'relative_drop' && rule.baseline.kind === 'band') {
      // A band is drawn for the whole model version (policy put refuses slices with it).
      return [
        {
          ...OVERALL,
          n: snapshot.document.overall.n,
          observed: measure(snapshot.document.overall, rule.metric),
          band: await this.band(rule.baseline, rule.metric as ChunkMetric),
        },
      ];
    }
    // relative_drop and label_availability compare with earlier cohorts at the same checkpoint.
    const read = rule.kind === 'label_availability' ? labeledShare : (m: GroupMetrics) => measure(m, rule.metric);
    const priors =
      rule.kind === 'label_availability'
        ? await this.prior(snapshot.checkpoint, rule.history, true)
        : await this.prior(snapshot.checkpoint, priorCount(rule.baseline), rule.baseline.kind !== 'previous');
    return groups.map((g) => ({
      dimension: g.dimension,
      value: g.value,
      n: g.metrics.n,
      observed: read(g.metrics),
      baseline: poolBaseline(priorMeasures(priors, g, read)),
    }));
  }

  /** The moment the judgement reads labels as of: the snapshot's, or the cohort's close. */
  private asOf(): string {
    return this.snapshot?.asOf ?? this.record.end;
  }

  /**
   * The cohort's estimate through the calibration `hindsight estimate` fits on `reference`
   * (labels as of the judgement's moment), each calibration fitted once per judgement.
   */
  private estimate(
    reference: CohortSelector[],
    requested: 'none' | 'isotonic' | 'platt' | undefined,
    where: string,
  ): Promise<{ calibrated: ScoreCalibration; estimate: EstimatedPerformance }> {
    const key = JSON.stringify([reference.map((r) => [r.model_version, r.environment, r.start, r.end]), requested ?? null]);
    let found = this.estimates.get(key);
    if (!found) {
      found = (async () => {
        const calibrated = await calibrationFor(this.db, this.definition, reference, requested, this.asOf(), where);
        return { calibrated, estimate: await this.deps.estimatePerformance(this.db, this.record, this.definition, calibrated) };
      })();
      this.estimates.set(key, found);
    }
    return found;
  }

  private bandRange(baseline: BandBaseline): ChunkedRange {
    return {
      model_version: this.record.model_version,
      environment: this.record.environment,
      from: baseline.reference.from,
      to: baseline.reference.to,
    };
  }

  /** A band baseline's limits for `metric`: the band `hindsight estimate` draws, over this model version's reference chunks. */
  private async band(baseline: BandBaseline, metric: ChunkMetric): Promise<BandLimits> {
    const key = JSON.stringify([baseline.reference, baseline.chunk, baseline.sigmas]);
    let found = this.bands.get(key);
    if (!found) {
      found = realizedReferenceBand(
        this.db,
        {
          model_name: this.record.model_name,
          definition: this.definition,
          reference: this.bandRange(baseline),
          chunking: { every: baseline.chunk },
          asOf: this.asOf(),
        },
        baseline.sigmas,
      );
      this.bands.set(key, found);
    }
    const { chunks, band } = await found;
    return { limits: band[metric], chunks: chunks.filter((chunk) => chunk[metric] !== null).length, sigmas: baseline.sigmas };
  }

  /** PSI of the score (and the named features) against the cohort before; a magnitude, so no test. */
  private async judgePsi(rule: Extract<PolicyRule, { kind: 'score_psi' }>): Promise<GroupJudgement[]> {
    const [previous] = await this.prior('', 1, false);
    if (!previous) return [];
    const drift = await computeDrift(this.db, {
      model_name: this.record.model_name,
      reference: previous.record,
      current: this.record,
      features: rule.features,
    });
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

function snapshotGroups(
  document: EvaluationDocument,
  keep: (dimension: string) => boolean,
): Array<{ dimension: string; value: string | null; metrics: GroupMetrics }> {
  return [
    { ...OVERALL, metrics: document.overall },
    ...document.slices.filter((s) => keep(s.dimension)).map((s) => ({ dimension: s.dimension, value: s.value, metrics: s })),
  ];
}

function estimatedGroups(
  estimate: EstimatedPerformance,
  keep: (dimension: string) => boolean,
): Array<{ dimension: string; value: string | null; n: number; metrics: EstimatedGroup }> {
  return [
    { ...OVERALL, n: estimate.overall.n, metrics: estimate.overall },
    ...estimate.slices.filter((s) => keep(s.dimension)).map((s) => ({ dimension: s.dimension, value: s.value, n: s.n, metrics: s })),
  ];
}

function priorMeasures(
  priors: PriorCohort[],
  group: { dimension: string; value: string | null },
  read: (metrics: GroupMetrics) => Measured,
): Measured[] {
  return priors.flatMap((prior) => {
    const metrics =
      group.dimension === '' ? prior.overall : prior.slices.find((s) => s.dimension === group.dimension && s.value === group.value);
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
  if (value === null || se === null) return { value, sample: null, interval: null };
  const interval = { low: value - Z95 * se, high: value + Z95 * se };
  return { value, sample: { kind: 'interval', ...interval }, interval: { ...interval, method: 'normal' } };
}

async function readPriorCohorts(
  db: Knex,
  record: CohortRecord,
  checkpoint: string,
  count: number,
  finalized: boolean,
): Promise<PriorCohort[]> {
  const bindings: PriorCohortBindings = {
    checkpoint,
    model: record.model_name,
    ldn: record.label_definition_name,
    ldv: record.label_definition_version,
    environment: record.environment,
    start: toUtcIso(record.start),
    finalized,
    count,
  };
  const { rows } = await db.raw(PRIOR_COHORTS, bindings);
  return rows.map((row: Record<string, any>) => ({
    record: cohortRecordFromRow(row),
    snapshotId: row.snapshot_id === null ? null : Number(row.snapshot_id),
    asOf: row.as_of === null ? null : toUtcIso(row.as_of),
    overall: row.overall,
    slices: row.slices ?? [],
  }));
}
