/**
 * Turns the sufficient statistics that SQL computes per group into the named metrics of
 * the suite (exact definitions: docs/metrics.md). Pure: no I/O, so it is tested directly
 * against scikit-learn numbers.
 *
 * A metric that is undefined for the data (one class, no rows) is `null`, and
 * `undefined_metrics` says why; never NaN.
 */
import { ratio, type BinSums } from './bin-sums';
import {
  expectedCalibrationError,
  quantileCalibration,
  scoreDeciles,
  uniformCalibration,
  type CalibrationCurves,
  type ScoreDecile,
} from './calibration';
import type { MetricIntervals, RegressionIntervals } from './metric-intervals';
import { decisionRates, expectedCost, thresholdCurve, type DecisionCosts, type ThresholdCurvePoint } from './threshold-curve';

export type { CalibrationBin, CalibrationCurves, ScoreDecile } from './calibration';
export type { DecisionCosts, ThresholdCurvePoint, ThresholdPoint } from './threshold-curve';

/** Per-group sums over labeled predictions (counts also over unlabeled ones). */
export interface BinarySums {
  n: number;
  n_labeled: number;
  n_final: number;
  n_positive: number;
  /** Labeled predictions at or above their decision threshold, by label. */
  tp: number;
  fp: number;
  /** Σ outcome value of positives at or above their threshold (caught) and below it (missed). */
  value_caught: number;
  value_missed: number;
  score_sum: number | null;
  brier_sum: number | null;
  log_loss_sum: number | null;
  /** 2 × Σ over negatives of (positives scored higher + ½ positives scored equal). */
  auc_twice: number | null;
  /** Σ over distinct scores s with positives: positives(s) × precision(score ≥ s). */
  ap_sum: number | null;
  ks: number | null;
  /** The 11 quantile edges (numpy linear percentiles at 0, 10, …, 100). */
  quantile_edges: Array<number | null>;
  uniform_bins: BinSums[];
  quantile_bins: BinSums[];
  deciles: BinSums[];
  threshold_buckets: BinSums[];
}

/** What the label definition contributes to finishing: the threshold grid and the costs. */
export interface BinaryFinishOptions {
  threshold_grid: readonly number[];
  costs: DecisionCosts | null;
}

export interface BinaryMetrics {
  n: number;
  n_labeled: number;
  n_final: number;
  n_positive: number;
  label_availability: number | null;
  base_rate: number | null;
  mean_score: number | null;
  roc_auc: number | null;
  pr_auc: number | null;
  brier: number | null;
  log_loss: number | null;
  ece: number | null;
  ks: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** Σ cost over labeled predictions at the decision threshold: fp·cost_fp + fn·cost_fn. */
  total_cost: number | null;
  /** total_cost / n_labeled. */
  expected_cost: number | null;
  /** Σ outcome value of the positives flagged at the decision threshold (0 when none). */
  value_caught: number;
  /** Σ outcome value of the positives not flagged. */
  value_missed: number;
  calibration: CalibrationCurves;
  calibration_deciles: ScoreDecile[];
  threshold_curve: ThresholdCurvePoint[];
  undefined_metrics: Record<string, string>;
  /** Only when asked for (`evaluate --intervals`): each headline metric's 95% interval. */
  intervals?: MetricIntervals;
}

export const REASONS = {
  noLabels: 'no labeled predictions',
  emptyCohort: 'empty cohort',
  noPositives: 'no positive labels',
  noNegatives: 'no negative labels',
  noDecisions: 'no prediction at or above the threshold',
  noF1: 'no positive labels and no positive decisions',
  noCosts: 'the label definition has no costs',
  constantTarget: 'the target is constant, so r2 is undefined',
} as const;

/** Records a reason for each metric left null, so a reader never meets a silent null. */
function createGuard(reasons: Record<string, string>) {
  return <T>(name: string, value: T | null, reason: string | null): T | null => {
    if (reason !== null || value === null) {
      reasons[name] = reason ?? 'undefined for this data';
      return null;
    }
    return value;
  };
}

export function finishBinaryMetrics(sums: BinarySums, options: BinaryFinishOptions): BinaryMetrics {
  const reasons: Record<string, string> = {};
  const guard = createGuard(reasons);
  const labeled = sums.n_labeled;
  const positives = sums.n_positive;
  const negatives = labeled - positives;
  const emptyReason = labeled === 0 ? REASONS.noLabels : null;
  const classReason = emptyReason ?? (positives === 0 ? REASONS.noPositives : negatives === 0 ? REASONS.noNegatives : null);
  const fn = positives - sums.tp;
  const rates = decisionRates(sums.tp, sums.fp, fn);
  const uniform = uniformCalibration(sums.uniform_bins);
  const totalCost = options.costs === null ? null : options.costs.fp * sums.fp + options.costs.fn * fn;

  return {
    n: sums.n,
    n_labeled: labeled,
    n_final: sums.n_final,
    n_positive: positives,
    label_availability: guard('label_availability', ratio(sums.n_final, sums.n), sums.n === 0 ? REASONS.emptyCohort : null),
    base_rate: guard('base_rate', ratio(positives, labeled), emptyReason),
    mean_score: guard('mean_score', sums.score_sum === null ? null : ratio(sums.score_sum, labeled), emptyReason),
    roc_auc: guard('roc_auc', sums.auc_twice === null ? null : ratio(sums.auc_twice, 2 * positives * negatives), classReason),
    pr_auc: guard(
      'pr_auc',
      sums.ap_sum === null ? null : ratio(sums.ap_sum, positives),
      emptyReason ?? (positives === 0 ? REASONS.noPositives : null),
    ),
    brier: guard('brier', sums.brier_sum === null ? null : ratio(sums.brier_sum, labeled), emptyReason),
    log_loss: guard('log_loss', sums.log_loss_sum === null ? null : ratio(sums.log_loss_sum, labeled), emptyReason),
    ece: guard('ece', expectedCalibrationError(uniform), emptyReason),
    ks: guard('ks', sums.ks, classReason),
    precision: guard('precision', rates.precision, emptyReason ?? (rates.precision === null ? REASONS.noDecisions : null)),
    recall: guard('recall', rates.recall, emptyReason ?? (rates.recall === null ? REASONS.noPositives : null)),
    f1: guard('f1', rates.f1, emptyReason ?? (rates.f1 === null ? REASONS.noF1 : null)),
    total_cost: guard('total_cost', totalCost, emptyReason ?? (options.costs === null ? REASONS.noCosts : null)),
    expected_cost: guard(
      'expected_cost',
      expectedCost(sums.fp, fn, labeled, options.costs),
      emptyReason ?? (options.costs === null ? REASONS.noCosts : null),
    ),
    value_caught: sums.value_caught,
    value_missed: sums.value_missed,
    calibration: { uniform, quantile: quantileCalibration(sums.quantile_bins, sums.quantile_edges) },
    calibration_deciles: scoreDeciles(sums.deciles),
    threshold_curve: thresholdCurve(options.threshold_grid, sums.threshold_buckets, options.costs),
    undefined_metrics: reasons,
  };
}

/** A group with no rows at all (an empty cohort): every count 0, every bin empty. */
export function emptyBinarySums(): BinarySums {
  return {
    n: 0,
    n_labeled: 0,
    n_final: 0,
    n_positive: 0,
    tp: 0,
    fp: 0,
    value_caught: 0,
    value_missed: 0,
    score_sum: null,
    brier_sum: null,
    log_loss_sum: null,
    auc_twice: null,
    ap_sum: null,
    ks: null,
    quantile_edges: [],
    uniform_bins: [],
    quantile_bins: [],
    deciles: [],
    threshold_buckets: [],
  };
}

export interface RegressionSums {
  n: number;
  n_labeled: number;
  n_final: number;
  mean_score: number | null;
  mean_target: number | null;
  min_target: number | null;
  max_target: number | null;
  mae: number | null;
  mse: number | null;
  bias: number | null;
  ss_res: number | null;
  ss_tot: number | null;
}

export interface RegressionMetrics {
  n: number;
  n_labeled: number;
  n_final: number;
  label_availability: number | null;
  mean_score: number | null;
  mean_target: number | null;
  mae: number | null;
  rmse: number | null;
  /** mean(score − target): positive when the model over-predicts. */
  bias: number | null;
  r2: number | null;
  undefined_metrics: Record<string, string>;
  /** Only when asked for (`evaluate --intervals`): each metric's 95% bootstrap interval. */
  intervals?: RegressionIntervals;
}

export function finishRegressionMetrics(sums: RegressionSums): RegressionMetrics {
  const reasons: Record<string, string> = {};
  const guard = createGuard(reasons);
  const emptyReason = sums.n_labeled === 0 ? REASONS.noLabels : null;
  // min = max rather than ss_tot = 0: a one-pass variance of equal floats may be a hair above 0.
  const constantTarget = emptyReason === null && sums.min_target === sums.max_target;
  return {
    n: sums.n,
    n_labeled: sums.n_labeled,
    n_final: sums.n_final,
    label_availability: guard('label_availability', ratio(sums.n_final, sums.n), sums.n === 0 ? REASONS.emptyCohort : null),
    mean_score: guard('mean_score', sums.mean_score, emptyReason),
    mean_target: guard('mean_target', sums.mean_target, emptyReason),
    mae: guard('mae', sums.mae, emptyReason),
    rmse: guard('rmse', sums.mse === null ? null : Math.sqrt(sums.mse), emptyReason),
    bias: guard('bias', sums.bias, emptyReason),
    r2: guard(
      'r2',
      constantTarget || sums.ss_res === null || sums.ss_tot === null ? null : 1 - sums.ss_res / sums.ss_tot,
      emptyReason ?? (constantTarget ? REASONS.constantTarget : null),
    ),
    undefined_metrics: reasons,
  };
}

export function emptyRegressionSums(): RegressionSums {
  return {
    n: 0,
    n_labeled: 0,
    n_final: 0,
    mean_score: null,
    mean_target: null,
    min_target: null,
    max_target: null,
    mae: null,
    mse: null,
    bias: null,
    ss_res: null,
    ss_tot: null,
  };
}
