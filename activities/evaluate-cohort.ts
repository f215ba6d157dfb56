import type { Knex } from 'knex';
import { BINARY_METRICS, REGRESSION_METRICS, type EvaluationBindings } from '../sql/evaluate-cohort';
import { CREATE_LABELED, CREATE_MATCHES, JOIN_COUNTS } from '../sql/join-outcomes';
import { namedOutcomeTypes, type LabelDefinition } from './label-definitions';
import { finishBinaryMetrics, finishRegressionMetrics, type BinaryMetrics, type RegressionMetrics } from './stats/finish-metrics';

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
      const metricRows = (await trx.raw(def.task === 'binary' ? BINARY_METRICS : REGRESSION_METRICS, bindings)).rows as Array<Record<string, unknown>>;
      const joinRow = (await trx.raw(JOIN_COUNTS, bindings)).rows[0] as JoinCounts;

      const groups = metricRows.map((row) => ({
        dimension: row.dim as string,
        value: row.val as string | null,
        fingerprint: row.fingerprint as string | null,
        metrics: def.task === 'binary'
          ? finishBinaryMetrics(row as never)
          : finishRegressionMetrics(row as never),
      }));
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

function emptyMetrics(def: LabelDefinition): GroupMetrics {
  return def.task === 'binary'
    ? finishBinaryMetrics({
        n: 0, n_labeled: 0, n_final: 0, n_positive: 0, mean_score: null, base_rate: null, brier: null, log_loss: null,
        tp: 0, fp: 0, fn: 0, auc_numerator: null, ap_numerator: null, ks: null, ece_numerator: null, calibration: null,
      })
    : finishRegressionMetrics({ n: 0, n_labeled: 0, n_final: 0, mean_score: null, mean_target: null, mae: null, mse: null, bias: null, ss_res: null, ss_tot: null });
}
