import type { Knex } from 'knex';
import type { CalibratorParameters } from '../../client/calibrator';
import { calibrationBindings, cbpeSumsStatement } from '../../sql/estimate-cbpe';
import { joinBindingsFor } from '../../sql/join-outcomes';
import { ratio } from '../../stats/bin-sums';
import { hanleyMcNeilSe } from '../../stats/statistics';
import type { CohortSelector } from '../../contracts/cohort';
import { LabelDefinitionError, type LabelDefinition } from '../../contracts/label-definition';
import { labeledReferenceRows, referenceCalibration, type Calibration } from './estimate-chunks';

/** The four estimated metrics; null where the scores leave one undefined (as evaluate's are). */
export interface EstimatedMetrics {
  precision: number | null;
  recall: number | null;
  roc_auc: number | null;
  positive_rate: number | null;
}

export interface EstimatedGroup extends EstimatedMetrics {
  n: number;
  /** Predictions at or above their decision threshold. */
  flagged: number;
  /** Σ p: the positives the scores expect. */
  expected_positives: number;
  /** Σ p(1 − p): the variance of the positive count if labels were drawn from the scores. */
  positives_variance: number;
  /**
   * How far each estimate moves between samples of predictions (docs/diagnose.md): the
   * delta method for the three ratios, Hanley and McNeil's formula for ROC AUC.
   */
  standard_error: EstimatedMetrics;
}

export interface EstimatedPerformance {
  cohort: CohortSelector;
  /** How the scores were read: as they are (none), or through a calibrator fitted on a reference. */
  calibration: Calibration;
  label_definition: { name: string; version: number; decision_threshold: number };
  n: number;
  overall: EstimatedGroup;
  slices: Array<EstimatedGroup & { dimension: string; value: string | null }>;
}

interface SumsRow {
  dim: string;
  val: string | null;
  n: number;
  flagged: number;
  sum_p: number;
  sum_p2: number;
  sum_p_flagged: number;
  sum_p2_flagged: number;
  auc_numerator: number;
}

const root = (variance: number) => Math.sqrt(Math.max(0, variance));

export function finishEstimate(row: Omit<SumsRow, 'dim' | 'val'>): EstimatedGroup {
  const positives = row.sum_p;
  const negatives = row.n - row.sum_p;
  const recall = ratio(row.sum_p_flagged, positives);
  const precision = ratio(row.sum_p_flagged, row.flagged);
  const positiveRate = ratio(positives, row.n);
  const rocAuc = positives > 0 && negatives > 0 ? row.auc_numerator / (positives * negatives) : null;
  return {
    n: row.n,
    flagged: row.flagged,
    expected_positives: positives,
    positives_variance: positives - row.sum_p2,
    precision,
    recall,
    roc_auc: rocAuc,
    positive_rate: positiveRate,
    standard_error: {
      // Σ (p·f − R·p)² / (Σ p)², f the 0/1 decision, written with the sums SQL keeps
      recall: recall === null ? null : root(row.sum_p2_flagged * (1 - 2 * recall) + recall * recall * row.sum_p2) / positives,
      // Σ f·(p − precision)² / F²
      precision:
        precision === null
          ? null
          : root(row.sum_p2_flagged - 2 * precision * row.sum_p_flagged + precision * precision * row.flagged) / row.flagged,
      roc_auc: rocAuc === null ? null : hanleyMcNeilSe(rocAuc, positives, negatives),
      // Σ (p − mean)² / n²
      positive_rate: positiveRate === null ? null : root(row.sum_p2 - row.n * positiveRate * positiveRate) / row.n,
    },
  };
}

/** Slices in the definition's dimension order, values in code-point order, missing last (as evaluate lists them). */
function bySliceOrder(dims: readonly string[]): (a: SumsRow, b: SumsRow) => number {
  return (a, b) =>
    dims.indexOf(a.dim) - dims.indexOf(b.dim) ||
    (a.val === null ? 1 : 0) - (b.val === null ? 1 : 0) ||
    (a.val === null || b.val === null || a.val === b.val ? 0 : a.val < b.val ? -1 : 1);
}

const EMPTY: Omit<SumsRow, 'dim' | 'val'> = {
  n: 0,
  flagged: 0,
  sum_p: 0,
  sum_p2: 0,
  sum_p_flagged: 0,
  sum_p2_flagged: 0,
  auc_numerator: 0,
};

/** How scores become probabilities for an estimate: {@link calibrationFor}. */
export interface ScoreCalibration {
  calibration: Calibration;
  /** The fitted calibrator (null: the score is the probability), applied in SQL by {@link estimatePerformance}. */
  calibrator: CalibratorParameters | null;
}

export const UNCALIBRATED: ScoreCalibration = { calibration: 'none', calibrator: null };

/**
 * The calibration `hindsight estimate` applies (./estimate-chunks, one implementation), fitted
 * on the labeled predictions of the `reference` cohorts as of `asOf`: isotonic by default
 * when they have labels, none when they have none; `option` names the setting for the error
 * a requested calibration without labels gets.
 */
export async function calibrationFor(
  db: Knex,
  definition: LabelDefinition,
  reference: readonly CohortSelector[],
  requested: Calibration | undefined,
  asOf: string,
  option: string,
): Promise<ScoreCalibration> {
  if (requested === 'none') return UNCALIBRATED;
  const ranges = reference.map((c) => ({ model_version: c.model_version, environment: c.environment, from: c.start, to: c.end }));
  const model = reference[0]?.model_name ?? definition.model_name;
  const labeled = await labeledReferenceRows(db, model, definition, ranges, asOf);
  return referenceCalibration(requested, labeled, asOf, option);
}

/**
 * The label-free estimate of a cohort's precision, recall, ROC AUC and positive rate at the
 * decision the evaluation uses, overall and per slice, from the scores alone, read as
 * probabilities: as they are, or through `calibrated` ({@link calibrationFor}; the decisions
 * stay the model's), docs/diagnose.md says what that assumes. Reads the predictions a binary
 * evaluation reads (scores in [0, 1]); independent of any as-of.
 */
export async function estimatePerformance(
  db: Knex,
  cohort: CohortSelector,
  definition: LabelDefinition,
  calibrated: ScoreCalibration = UNCALIBRATED,
): Promise<EstimatedPerformance> {
  if (definition.task !== 'binary') {
    throw new LabelDefinitionError(
      `label definition ${definition.name}@${definition.version} is a ${definition.task} definition; ` +
        `the label-free estimate reads scores as probabilities and needs a binary one`,
    );
  }
  // as-of plays no part (no outcome is read); the cohort end fills the binding.
  const bindings = joinBindingsFor(cohort, definition, cohort.end);
  const rows = (await db.raw(cbpeSumsStatement(definition.slices), { ...bindings, ...calibrationBindings(calibrated.calibrator) }))
    .rows as SumsRow[];
  const overall = rows.find((row) => row.dim === '') ?? EMPTY;
  return {
    cohort: { ...cohort, start: bindings.start_ts, end: bindings.end_ts },
    calibration: calibrated.calibration,
    label_definition: { name: definition.name, version: definition.version, decision_threshold: definition.decision_threshold },
    n: overall.n,
    overall: finishEstimate(overall),
    slices: rows
      .filter((row) => row.dim !== '')
      .sort(bySliceOrder(definition.slices))
      .map((row) => ({ dimension: row.dim, value: row.val, ...finishEstimate(row) })),
  };
}
