import type { Knex } from 'knex';
import { BINARY_METRICS, REGRESSION_METRICS, THRESHOLD_GRID, type EvaluationBindings } from '../sql/evaluate-cohort';
import { CREATE_LABELED, CREATE_MATCHES, JOIN_COUNTS } from '../sql/join-outcomes';
import { namedOutcomeTypes, type LabelDefinition } from './label-definitions';
import type { BinSums } from './stats/bin-sums';
import {
  emptyBinarySums,
  emptyRegressionSums,
  finishBinaryMetrics,
  finishRegressionMetrics,
  type BinaryMetrics,
  type BinarySums,
  type RegressionMetrics,
  type RegressionSums,
} from './stats/finish-metrics';

/** A cohort: one model version's predictions in `[start, end)` on ts_pred, optionally one environment. */
export interface CohortSelector {
  model_name: string;
  model_version: string;
  environment: string | null;
  start: string;
  end: string;
}

export interface JoinCounts {
  by_prediction_id: number;
  by_request_item: number;
  by_entity_window: number;
  rejected_before_prediction: number;
  outside_window: number;
  unmatched: number;
}

export type GroupMetrics = BinaryMetrics | RegressionMetrics;
export type SliceMetrics = GroupMetrics & { dimension: string; value: string | null };

/** The evaluation document of DESIGN ("Command line"). */
export interface EvaluationDocument {
  cohort: CohortSelector;
  label_definition: { name: string; version: number; task: LabelDefinition['task']; window: string };
  as_of: string;
  overall: GroupMetrics;
  slices: SliceMetrics[];
  join: JoinCounts;
  /** Changes exactly when some prediction's label or finality changes; decides late-label revisions. */
  label_fingerprint: string;
}

/** Normalizes any offset-carrying timestamp to UTC ISO-8601 with milliseconds. */
export function toUtcIso(value: string | Date): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`not a timestamp: ${String(value)}`);
  return date.toISOString();
}

function bindingsFor(cohort: CohortSelector, def: LabelDefinition, asOf: string): EvaluationBindings {
  return {
    model: cohort.model_name,
    version: cohort.model_version,
    environment: cohort.environment,
    start_ts: toUtcIso(cohort.start),
    end_ts: toUtcIso(cohort.end),
    as_of: toUtcIso(asOf),
    label_window: def.window,
    outcome_types: namedOutcomeTypes(def),
    positive_types: def.positive_outcome_types,
    entity_key: def.entity_key ?? null,
    absent_negative: def.absent_means === 'negative',
    regression: def.task === 'regression',
    default_threshold: def.decision_threshold,
    dims: def.slices,
  };
}

/**
 * Evaluates a cohort under a label definition as of a moment. Only outcomes received by
 * `asOf` count, so the same `asOf` always gives the same document.
 */
export async function evaluateCohort(db: Knex, cohort: CohortSelector, def: LabelDefinition, asOf: string): Promise<EvaluationDocument> {
  const bindings = bindingsFor(cohort, def, asOf);
  return db.transaction(
    async (trx) => {
      await trx.raw("set local work_mem = '256MB'");
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(CREATE_LABELED, bindings);
      const metricRows = (await trx.raw(def.task === 'binary' ? BINARY_METRICS : REGRESSION_METRICS, bindings)).rows as MetricRow[];
      const joinRow = (await trx.raw(JOIN_COUNTS, bindings)).rows[0] as JoinCounts;

      const groups = def.task === 'binary' ? finishBinaryGroups(metricRows, def) : finishRegressionGroups(metricRows);
      const overallGroup = groups.find((group) => group.dimension === '');
      const overall = overallGroup?.metrics ?? emptyMetrics(def);
      return {
        cohort: { ...cohort, start: bindings.start_ts, end: bindings.end_ts },
        label_definition: { name: def.name, version: def.version, task: def.task, window: def.window },
        as_of: bindings.as_of,
        overall,
        slices: groups
          .filter((group) => group.dimension !== '')
          .map((group) => ({ dimension: group.dimension, value: group.value, ...group.metrics })),
        join: joinRow,
        label_fingerprint: overallGroup?.fingerprint ?? '0',
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}

type MetricRow = Record<string, unknown> & { dim: string; val: string | null; fingerprint: string | null };

interface FinishedGroup {
  dimension: string;
  value: string | null;
  fingerprint: string | null;
  metrics: GroupMetrics;
}

/** The GROUPING SETS of BINARY_METRICS, by grouping(ubin, qbin, decile, tbucket). */
const BINARY_ROW_KIND = { group: 15, uniform: 7, quantile: 11, decile: 13, threshold: 14 } as const;

function groupKey(row: MetricRow): string {
  return JSON.stringify([row.dim, row.val]);
}

function toBinSums(row: MetricRow, binColumn: string): BinSums | null {
  const bin = row[binColumn];
  // A row with no labeled predictions has no bin; its null bin is a grouping artefact.
  if (bin === null || bin === undefined || (row.n_labeled as number) === 0) return null;
  return {
    bin: bin as number,
    count: row.n_labeled as number,
    positives: row.n_positive as number,
    score_sum: row.score_sum as number,
    min_score: row.min_score as number,
    max_score: row.max_score as number,
  };
}

/** Folds the rows of every grouping set back into one {@link BinarySums} per group, then finishes them. */
function finishBinaryGroups(rows: MetricRow[], def: LabelDefinition): FinishedGroup[] {
  const groups = new Map<string, { row: MetricRow; sums: BinarySums }>();
  const binsOf = new Map<string, Pick<BinarySums, 'uniform_bins' | 'quantile_bins' | 'deciles' | 'threshold_buckets'>>();
  const binLists = (key: string) => {
    let lists = binsOf.get(key);
    if (!lists) binsOf.set(key, (lists = { uniform_bins: [], quantile_bins: [], deciles: [], threshold_buckets: [] }));
    return lists;
  };
  for (const row of rows) {
    const key = groupKey(row);
    const kind = row.grouping_id as number;
    if (kind === BINARY_ROW_KIND.group) {
      groups.set(key, {
        row,
        sums: {
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
          auc_twice: row.auc_twice as number | null,
          ap_sum: row.ap_sum as number | null,
          ks: row.ks as number | null,
          quantile_edges: Array.from({ length: 11 }, (_, k) => row[`qe_${k}`] as number | null),
          uniform_bins: [],
          quantile_bins: [],
          deciles: [],
          threshold_buckets: [],
        },
      });
      continue;
    }
    const target = {
      [BINARY_ROW_KIND.uniform]: ['uniform_bins', 'ubin'],
      [BINARY_ROW_KIND.quantile]: ['quantile_bins', 'qbin'],
      [BINARY_ROW_KIND.decile]: ['deciles', 'decile'],
      [BINARY_ROW_KIND.threshold]: ['threshold_buckets', 'tbucket'],
    }[kind] as [keyof ReturnType<typeof binLists>, string] | undefined;
    if (!target) throw new Error(`unexpected grouping ${kind} in the binary metric rows`);
    const bin = toBinSums(row, target[1]);
    if (bin) binLists(key)[target[0]].push(bin);
  }
  const options = { threshold_grid: THRESHOLD_GRID, costs: def.costs ?? null };
  return [...groups.entries()].map(([key, { row, sums }]) => ({
    dimension: row.dim,
    value: row.val,
    fingerprint: row.fingerprint,
    metrics: finishBinaryMetrics({ ...sums, ...binLists(key) }, options),
  }));
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
  return def.task === 'binary'
    ? finishBinaryMetrics(emptyBinarySums(), { threshold_grid: THRESHOLD_GRID, costs: def.costs ?? null })
    : finishRegressionMetrics(emptyRegressionSums());
}
