/**
 * Turns the sufficient statistics that SQL computes per group into the named metrics of
 * DESIGN. Pure: no I/O, so it is tested directly against scikit-learn numbers.
 *
 * A metric that is undefined for the data (one class, no rows) is `null`, and
 * `undefined_metrics` says why; never NaN.
 */

export interface BinarySums {
  n: number;
  n_labeled: number;
  n_final: number;
  n_positive: number;
  mean_score: number | null;
  base_rate: number | null;
  brier: number | null;
  log_loss: number | null;
  tp: number;
  fp: number;
  fn: number;
  auc_numerator: number | null;
  ap_numerator: number | null;
  ks: number | null;
  ece_numerator: number | null;
  calibration: CalibrationBin[] | null;
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  mean_predicted: number;
  fraction_positive: number;
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
  calibration: CalibrationBin[];
  undefined_metrics: Record<string, string>;
}

function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator;
}

export function finishBinaryMetrics(sums: BinarySums): BinaryMetrics {
  const reasons: Record<string, string> = {};
  const positives = sums.n_positive;
  const negatives = sums.n_labeled - sums.n_positive;
  const noLabels = sums.n_labeled === 0;
  const oneClass = positives === 0 || negatives === 0;

  const guard = <T>(name: string, value: T | null, reason: string | null): T | null => {
    if (reason !== null) {
      reasons[name] = reason;
      return null;
    }
    return value;
  };
  const emptyReason = noLabels ? 'no labeled predictions' : null;
  const classReason = emptyReason ?? (positives === 0 ? 'no positive labels' : negatives === 0 ? 'no negative labels' : null);

  const precision = ratio(sums.tp, sums.tp + sums.fp);
  const recall = ratio(sums.tp, sums.tp + sums.fn);
  // sklearn's f1 is 2tp / (2tp + fp + fn), which stays defined when precision is not.
  const f1 = ratio(2 * sums.tp, 2 * sums.tp + sums.fp + sums.fn);

  return {
    n: sums.n,
    n_labeled: sums.n_labeled,
    n_final: sums.n_final,
    n_positive: positives,
    label_availability: guard('label_availability', ratio(sums.n_final, sums.n), sums.n === 0 ? 'empty cohort' : null),
    base_rate: guard('base_rate', sums.base_rate, emptyReason),
    mean_score: guard('mean_score', sums.mean_score, emptyReason),
    roc_auc: guard('roc_auc', oneClass ? null : sums.auc_numerator! / (positives * negatives), classReason),
    pr_auc: guard('pr_auc', positives === 0 ? null : sums.ap_numerator! / positives, emptyReason ?? (positives === 0 ? 'no positive labels' : null)),
    brier: guard('brier', sums.brier, emptyReason),
    log_loss: guard('log_loss', sums.log_loss, emptyReason),
    ece: guard('ece', noLabels ? null : sums.ece_numerator! / sums.n_labeled, emptyReason),
    ks: guard('ks', sums.ks, classReason),
    precision: guard('precision', precision, emptyReason ?? (precision === null ? 'no prediction at or above the threshold' : null)),
    recall: guard('recall', recall, emptyReason ?? (recall === null ? 'no positive labels' : null)),
    f1: guard('f1', f1, emptyReason ?? (f1 === null ? 'no positive labels and no positive decisions' : null)),
    calibration: sums.calibration ?? [],
    undefined_metrics: reasons,
  };
}

export interface RegressionSums {
  n: number;
  n_labeled: number;
  n_final: number;
  mean_score: number | null;
  mean_target: number | null;
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
  bias: number | null;
  r2: number | null;
  undefined_metrics: Record<string, string>;
}

export function finishRegressionMetrics(sums: RegressionSums): RegressionMetrics {
  const reasons: Record<string, string> = {};
  const empty = sums.n_labeled === 0;
  if (empty) for (const name of ['mean_score', 'mean_target', 'mae', 'rmse', 'bias', 'r2']) reasons[name] = 'no labeled predictions';
  const constantTarget = !empty && sums.ss_tot === 0;
  if (constantTarget) reasons.r2 = 'the target is constant, so r2 is undefined';
  if (sums.n === 0) reasons.label_availability = 'empty cohort';
  return {
    n: sums.n,
    n_labeled: sums.n_labeled,
    n_final: sums.n_final,
    label_availability: ratio(sums.n_final, sums.n),
    mean_score: empty ? null : sums.mean_score,
    mean_target: empty ? null : sums.mean_target,
    mae: empty ? null : sums.mae,
    rmse: empty || sums.mse === null ? null : Math.sqrt(sums.mse),
    bias: empty ? null : sums.bias,
    r2: empty || constantTarget ? null : 1 - sums.ss_res! / sums.ss_tot!,
    undefined_metrics: reasons,
  };
}
