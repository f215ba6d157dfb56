/**
 * The threshold curve: confusion counts and the rates built on them at each threshold of a
 * fixed grid, from the labeled predictions counted per threshold bucket (bucket b holds
 * the scores at or above exactly b grid thresholds). Pure, so tested directly.
 */
import { ratio, type BinSums } from './bin-sums';

export interface DecisionCosts {
  fp: number;
  fn: number;
}

/**
 * The confusion counts and rates of flagging `score >= threshold` on labeled predictions:
 * what a point of the curve (ThresholdCurvePoint, below) and a chosen threshold's report
 * (ThresholdSearchPoint, ./threshold-search) both say.
 */
export interface ThresholdPoint {
  threshold: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number | null;
  recall: number | null;
  /** Mean cost per labeled prediction, (fp·cost_fp + fn·cost_fn) / n_labeled; null without costs. */
  expected_cost: number | null;
}

/** A point of the threshold curve: the counts and rates, plus the rates ROC and F1 readers look for. */
export interface ThresholdCurvePoint extends ThresholdPoint {
  /** Equal to recall; named for ROC readers. */
  tpr: number | null;
  fpr: number | null;
  f1: number | null;
  predicted_positive_rate: number | null;
}

/** Confusion counts into precision, recall and f1 as scikit-learn defines them; null where it warns. */
export function decisionRates(tp: number, fp: number, fn: number): { precision: number | null; recall: number | null; f1: number | null } {
  return {
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    // sklearn's f1 is 2tp / (2tp + fp + fn), which stays defined when precision is not.
    f1: ratio(2 * tp, 2 * tp + fp + fn),
  };
}

export function expectedCost(fp: number, fn: number, labeled: number, costs: DecisionCosts | null): number | null {
  return costs === null ? null : ratio(costs.fp * fp + costs.fn * fn, labeled);
}

/** One point per grid threshold t: a prediction is positive when score >= t. */
export function thresholdCurve(grid: readonly number[], buckets: BinSums[], costs: DecisionCosts | null): ThresholdCurvePoint[] {
  const perBucket = Array.from({ length: grid.length + 1 }, () => ({ count: 0, positives: 0 }));
  for (const bucket of buckets) {
    const slot = perBucket[bucket.bin];
    if (!slot) throw new Error(`threshold bucket ${bucket.bin} is outside a grid of ${grid.length}`);
    slot.count += bucket.count;
    slot.positives += bucket.positives;
  }
  const labeled = perBucket.reduce((sum, slot) => sum + slot.count, 0);
  const positives = perBucket.reduce((sum, slot) => sum + slot.positives, 0);
  if (labeled === 0) return [];
  const points: ThresholdCurvePoint[] = [];
  // Scores at or above threshold j are those in buckets j + 1 and higher.
  let flagged = labeled - (perBucket[0]?.count ?? 0);
  let tp = positives - (perBucket[0]?.positives ?? 0);
  grid.forEach((threshold, j) => {
    if (j > 0) {
      flagged -= perBucket[j]!.count;
      tp -= perBucket[j]!.positives;
    }
    const fp = flagged - tp;
    const fn = positives - tp;
    const tn = labeled - positives - fp;
    const rates = decisionRates(tp, fp, fn);
    points.push({
      threshold,
      tp,
      fp,
      fn,
      tn,
      ...rates,
      tpr: rates.recall,
      fpr: ratio(fp, fp + tn),
      predicted_positive_rate: ratio(tp + fp, labeled),
      expected_cost: expectedCost(fp, fn, labeled, costs),
    });
  });
  return points;
}
