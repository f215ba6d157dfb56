import type { Knex } from 'knex';
import type { CohortSelector } from '../../contracts/cohort';
import type { EvaluationDocument, GroupMetrics, JoinCounts, TrafficBlock } from '../../contracts/evaluation';
import type { LabelLag, ProjectedMetrics } from '../../contracts/evaluation';
import { LABEL_LAG } from '../../sql/label-lag';
import { binaryRanksStatement, binaryTotalsStatement, type RankGroup } from '../../sql/binary-metrics';
import { THRESHOLD_GRID, regressionMetrics } from '../../sql/evaluate-cohort';
import { PROPENSITY_WEIGHTED } from '../../sql/propensity-weighted';
import {
  CREATE_MATCHES,
  DROP_LABELED_TRAFFIC,
  EXPLORATION_COUNT,
  INVALID_SCORES,
  NO_DECISIONS,
  NO_SCORES,
  JOIN_COUNTS,
  LABELED_TRAFFIC,
  RESTORE_LABELED,
  SET_ASIDE_LABELED,
  createLabeled,
  joinBindingsFor,
  type EvaluationBindings,
} from '../../sql/join-outcomes';
import { itemTask, type LabelDefinition } from '../../contracts/label-definition';
import { dropUnscorable } from '../../sql/ranking-metrics';
import type { BinSums } from '../../stats/bin-sums';
import {
  emptyBinarySums,
  emptyRegressionSums,
  finishBinaryMetrics,
  finishRegressionMetrics,
  type BinaryMetrics,
  type BinarySums,
  type RegressionMetrics,
  type RegressionSums,
} from '../../stats/finish-metrics';
import { finishPropensityWeighted, type PropensityWeightedMetrics, type PropensityWeightedSums } from '../../stats/propensity-weighted';
import { compareTraffic, selectionBiasWarning, type TrafficComparison } from '../../stats/traffic-comparison';
import { addMetricIntervals } from './metric-intervals';
import { evaluateRanking, rankingGroupKey } from './ranking';

export interface EvaluateOptions {
  /** Add the propensity-weighted base rate and ROC AUC of the labeled predictions. */
  propensityWeighted?: boolean;
  /** Add the label lag quantiles (`label_lag`), as the lifecycle's final snapshots carry them. */
  labelLag?: boolean;
  /** Add each group's 95% intervals (`intervals`, stats/metric-intervals). */
  intervals?: boolean;
}

/**
 * Evaluates a cohort under a label definition as of a moment. Only outcomes received by
 * `asOf` count, so the same `asOf` always gives the same document.
 */
export async function evaluateCohort(
  db: Knex,
  cohort: CohortSelector,
  def: LabelDefinition,
  asOf: string,
  options: EvaluateOptions = {},
): Promise<EvaluationDocument> {
  if (options.propensityWeighted && def.task !== 'binary')
    throw new Error(`propensity-weighted metrics need a binary label definition; ${def.name}@${def.version} is ${def.task}`);
  const bindings = joinBindingsFor(cohort, def, asOf);
  return db.transaction(
    async (trx) => {
      await trx.raw("set local work_mem = '256MB'");
      // Many small expressions over a few million rows: JIT compilation costs more than it saves.
      await trx.raw('set local jit = off');
      await trx.raw(CREATE_MATCHES, bindings);
      const binary = itemTask(def) === 'binary';
      const isRanking = def.task === 'ranking';
      await trx.raw(
        createLabeled(def.slices, { probabilityScores: binary && !isRanking, ranking: isRanking, scoredOnly: !isRanking }),
        bindings,
      );
      // The ranking metrics read every row of a request; then the binary suite drops what it cannot read.
      const ranking = isRanking ? await evaluateRanking(trx, def, bindings) : null;
      if (ranking) await trx.raw(dropUnscorable(binary));
      const noScore = (await trx.raw(NO_SCORES, bindings)).rows[0].no_score as number;
      const withRanking = <T extends object>(metrics: T, dimension: string, value: string | null) =>
        ranking ? { ...metrics, ranking: ranking.groups.get(rankingGroupKey(dimension, value))! } : metrics;
      const joinRow = (await trx.raw(JOIN_COUNTS, bindings)).rows[0] as JoinCounts;
      const invalidScore = binary ? ((await trx.raw(INVALID_SCORES, bindings)).rows[0].invalid_score as number) : 0;
      const noDecision = bindings.logged_decisions ? ((await trx.raw(NO_DECISIONS, bindings)).rows[0].no_decision as number) : null;
      const groups = await evaluateGroups(trx, def, bindings);
      if (options.intervals) await addMetricIntervals(trx, def.slices, groups);
      const traffic = await evaluateTraffic(trx, def, bindings);
      const weighted = options.propensityWeighted
        ? finishPropensityWeighted((await trx.raw(PROPENSITY_WEIGHTED)).rows[0] as PropensityWeightedSums)
        : null;
      const lag = options.labelLag ? await measureLabelLag(trx, bindings) : null;
      const overallGroup = groups.find((group) => group.dimension === '');
      const overall = withRanking(overallGroup?.metrics ?? emptyMetrics(def), '', null);
      return {
        cohort: { ...cohort, start: bindings.start_ts, end: bindings.end_ts },
        label_definition: { name: def.name, version: def.version, task: def.task, window: def.window },
        as_of: bindings.as_of,
        overall,
        slices: groups
          .filter((group) => group.dimension !== '')
          .sort(bySliceOrder(def.slices))
          .map((group) => ({
            dimension: group.dimension,
            value: group.value,
            ...withRanking(group.metrics, group.dimension, group.value),
          })),
        join: joinRow,
        excluded: {
          invalid_score: invalidScore,
          ...(ranking ? { without_request: ranking.without_request } : {}),
          ...(noScore > 0 ? { no_score: noScore } : {}),
          ...(noDecision === null ? {} : { no_decision: noDecision }),
        },
        label_fingerprint: overallGroup?.fingerprint ?? '0',
        traffic,
        ...(weighted ? { propensity_weighted: weighted } : {}),
        ...(lag ? { label_lag: lag } : {}),
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}

/**
 * Why a cohort has no predictions, for the one reading an empty evaluation: no prediction of
 * the model at all, none of the version, or none in the range (and environment).
 */
export async function explainEmptyCohort(db: Knex, document: EvaluationDocument): Promise<string> {
  const { cohort } = document;
  if (document.excluded.invalid_score > 0) {
    return (
      `all ${document.excluded.invalid_score} predictions of the cohort have a score outside [0, 1], ` +
      `which the binary definition ${document.label_definition.name}@${document.label_definition.version} ` +
      `cannot read as a probability (excluded.invalid_score)`
    );
  }
  const model = await db('predictions').where({ model_name: cohort.model_name }).first(db.raw('1'));
  if (!model) return `no predictions of model ${cohort.model_name} are stored`;
  const version = await db('predictions').where({ model_name: cohort.model_name, model_version: cohort.model_version }).first(db.raw('1'));
  if (!version) return `model ${cohort.model_name} has no predictions of version ${cohort.model_version}`;
  const where = cohort.environment === null ? '' : ` in environment ${cohort.environment}`;
  return (
    `model ${cohort.model_name} version ${cohort.model_version} has no predictions ` +
    `with ts_pred in [${cohort.start}, ${cohort.end})${where}`
  );
}

async function measureLabelLag(trx: Knex.Transaction, bindings: EvaluationBindings): Promise<LabelLag> {
  const row = (await trx.raw(LABEL_LAG, bindings)).rows[0] as { n: number; quantiles: number[] | null };
  const [p50, p90, p99] = row.quantiles ?? [];
  return { n: row.n, p50: p50 ?? null, p90: p90 ?? null, p99: p99 ?? null };
}

async function evaluateGroups(trx: Knex.Transaction, def: LabelDefinition, bindings: EvaluationBindings): Promise<FinishedGroup[]> {
  return itemTask(def) === 'binary'
    ? evaluateBinary(trx, def)
    : finishRegressionGroups((await trx.raw(regressionMetrics(def.slices), bindings)).rows as MetricRow[]);
}

/**
 * The overall suite on each side of the exploration split: the same statements over the
 * labeled table narrowed to that side (so they stay the evaluation's, not a copy), only
 * when the cohort has exploration traffic at all, so other cohorts pay one count.
 */
async function evaluateTraffic(trx: Knex.Transaction, def: LabelDefinition, bindings: EvaluationBindings): Promise<TrafficBlock | null> {
  const exploration = Number((await trx.raw(EXPLORATION_COUNT)).rows[0].exploration);
  if (exploration === 0) return null;
  const overallOnly = { ...def, slices: [] };
  const side = async (isExploration: boolean): Promise<GroupMetrics> => {
    await trx.raw(LABELED_TRAFFIC, { exploration: isExploration });
    const groups = await evaluateGroups(trx, overallOnly, { ...bindings, dims: [] });
    await trx.raw(DROP_LABELED_TRAFFIC);
    return groups.find((group) => group.dimension === '')?.metrics ?? emptyMetrics(def);
  };
  await trx.raw(SET_ASIDE_LABELED);
  const explored = await side(true);
  const policy = await side(false);
  await trx.raw(RESTORE_LABELED);
  const comparison = compareTraffic(explored, policy);
  return { exploration: explored, policy, comparison, selection_bias_warning: selectionBiasWarning(comparison) };
}

/**
 * The binary metrics: the totals per group, then the rank statement written for the groups
 * with labeled rows (see ../sql/binary-metrics), folded into one {@link BinarySums} each.
 */
async function evaluateBinary(trx: Knex.Transaction, def: LabelDefinition): Promise<FinishedGroup[]> {
  const totals = binaryTotalsStatement(def.slices);
  const totalRows = (await trx.raw(totals.sql, totals.bindings)).rows as MetricRow[];
  const rankGroups: RankGroup[] = totalRows
    .filter((row) => (row.n_labeled as number) > 0)
    .map((row) => ({ dimension: row.dim === '' ? 0 : def.slices.indexOf(row.dim) + 1, value: row.val }));
  const ranks = binaryRanksStatement(def.slices, rankGroups);
  const rankRows = rankGroups.length === 0 ? [] : ((await trx.raw(ranks.sql, ranks.bindings)).rows as RankRow[]);
  const options = { threshold_grid: THRESHOLD_GRID, costs: def.costs ?? null };
  return collectBinarySums(totalRows, rankRows, def.slices).map(({ row, sums }) => ({
    dimension: row.dim,
    value: row.val,
    fingerprint: row.fingerprint,
    metrics: finishBinaryMetrics(sums, options),
  }));
}

type MetricRow = Record<string, unknown> & { dim: string; val: string | null; fingerprint: string | null };

interface FinishedGroup {
  dimension: string;
  value: string | null;
  fingerprint: string | null;
  metrics: GroupMetrics;
}

/** Slices in the definition's dimension order, values in code-point order, missing last. */
function bySliceOrder(dims: string[]): (a: FinishedGroup, b: FinishedGroup) => number {
  return (a, b) =>
    dims.indexOf(a.dimension) - dims.indexOf(b.dimension) ||
    (a.value === null ? 1 : 0) - (b.value === null ? 1 : 0) ||
    (a.value === null || b.value === null || a.value === b.value ? 0 : a.value < b.value ? -1 : 1);
}

/** A row of the rank statement (../sql/binary-metrics): a 'segment' of ranks or a group's 'ranks'. */
type RankRow = Record<string, unknown> & { kind: 'segment' | 'ranks'; d: number; val: string | null };

function groupKey(dimension: string, value: string | null): string {
  return JSON.stringify([dimension, value]);
}

/** Adds a segment into the bin with its index in `bins` (a list kept in index order by finishing). */
function addToBin(bins: BinSums[], bin: number, row: RankRow): void {
  const count = row.n_labeled as number;
  const minScore = row.min_score as number;
  const maxScore = row.max_score as number;
  const existing = bins.find((candidate) => candidate.bin === bin);
  if (!existing) {
    bins.push({
      bin,
      count,
      positives: row.n_positive as number,
      score_sum: row.score_sum as number,
      min_score: minScore,
      max_score: maxScore,
    });
    return;
  }
  existing.count += count;
  existing.positives += row.n_positive as number;
  existing.score_sum += row.score_sum as number;
  existing.min_score = Math.min(existing.min_score, minScore);
  existing.max_score = Math.max(existing.max_score, maxScore);
}

/**
 * One {@link BinarySums} per group: its totals row, plus from the rank statement its
 * 'ranks' row (AUC, average precision, KS, quantile edges) and its 'segment' rows, each
 * inside one bin of every binning, added up here per binning.
 */
function collectBinarySums(totalRows: MetricRow[], rankRows: RankRow[], dims: string[]): Array<{ row: MetricRow; sums: BinarySums }> {
  const groups = new Map<string, { row: MetricRow; sums: BinarySums }>();
  for (const row of totalRows) {
    groups.set(groupKey(row.dim, row.val), {
      row,
      sums: {
        // The rank statement fills AUC, average precision, KS and the bins below.
        ...emptyBinarySums(),
        n: row.n as number,
        n_labeled: row.n_labeled as number,
        n_final: row.n_final as number,
        n_positive: row.n_positive as number,
        tp: row.tp as number,
        fp: row.fp as number,
        value_caught: row.value_caught as number,
        value_missed: row.value_missed as number,
        score_sum: row.score_sum as number | null,
        brier_sum: row.brier_sum as number | null,
        log_loss_sum: row.log_loss_sum as number | null,
      },
    });
  }
  for (const row of rankRows) {
    const key = groupKey(row.d === 0 ? '' : dims[row.d - 1]!, row.val);
    const group = groups.get(key);
    if (!group) throw new Error(`metric ranks for a group without totals: ${key}`);
    const { sums } = group;
    if (row.kind === 'ranks') {
      sums.auc_twice = (row.auc_twice as number | null) ?? 0;
      sums.ap_sum = (row.ap_sum as number | null) ?? 0;
      sums.ks = sums.n_positive > 0 && sums.n_positive < sums.n_labeled ? (row.ks as number) : null;
      sums.quantile_edges = row.quantile_edges as number[];
      continue;
    }
    addToBin(sums.uniform_bins, row.ubin as number, row);
    addToBin(sums.quantile_bins, row.qbin as number, row);
    addToBin(sums.deciles, row.decile as number, row);
    addToBin(sums.threshold_buckets, row.tbucket as number, row);
  }
  return [...groups.values()];
}

function finishRegressionGroups(rows: MetricRow[]): FinishedGroup[] {
  return rows.map((row) => ({
    dimension: row.dim,
    value: row.val,
    fingerprint: row.fingerprint,
    metrics: finishRegressionMetrics(row as unknown as RegressionSums),
  }));
}

function emptyMetrics(def: LabelDefinition): GroupMetrics {
  return itemTask(def) === 'binary'
    ? finishBinaryMetrics(emptyBinarySums(), { threshold_grid: THRESHOLD_GRID, costs: def.costs ?? null })
    : finishRegressionMetrics(emptyRegressionSums());
}
