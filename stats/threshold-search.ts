/**
 * Choosing a decision threshold on labeled scores (docs/calibration.md, "Thresholds"). A
 * prediction is flagged when its score is at or above the threshold, as everywhere else in
 * Hindsight. The candidates are the distinct scores, plus the float just above the highest
 * one (flag nothing):
 * - target precision P: the lowest candidate whose precision is at least P (the most recall
 *   that precision allows, recall only falling as the threshold rises);
 * - target recall R: the highest candidate whose recall is at least R (the fewest flags);
 * - minimum cost: the candidate with the least fp · cost_fp + fn · cost_fn, a tie going to
 *   the higher threshold.
 */
import { ratio } from './bin-sums';
import type { ThresholdPoint } from './threshold-curve';

export type ThresholdObjective =
  | { kind: 'target_precision'; target: number }
  | { kind: 'target_recall'; target: number }
  | { kind: 'min_cost'; costs: { fp: number; fn: number } };

/** The counts and rates at a chosen threshold, with how many rows they come from and their total cost. */
export interface ThresholdSearchPoint extends ThresholdPoint {
  n: number;
  /** fp · cost_fp + fn · cost_fn; null without costs. */
  total_cost: number | null;
}

/** The confusion counts and rates of flagging `score ≥ threshold`. */
export function thresholdPoint(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
  costs: { fp: number; fn: number } | null,
): ThresholdSearchPoint {
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    positives += labels[i]!;
    if (scores[i]! >= threshold) {
      if (labels[i] === 1) tp += 1;
      else fp += 1;
    }
  }
  const n = scores.length;
  const fn = positives - tp;
  const total = costs ? fp * costs.fp + fn * costs.fn : null;
  return {
    threshold,
    n,
    tp,
    fp,
    fn,
    tn: n - positives - fp,
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, positives),
    total_cost: total,
    expected_cost: total === null ? null : ratio(total, n),
  };
}

/** The float64 just above x (x finite), so `score ≥ it` flags no score ≤ x. */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const buffer = new DataView(new ArrayBuffer(8));
  buffer.setFloat64(0, x);
  const bits = buffer.getBigUint64(0);
  buffer.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  return buffer.getFloat64(0);
}

export class ThresholdError extends Error {
  override readonly name = 'ThresholdError';
}

/** The threshold the objective picks on these rows (at least one labeled row, one positive). */
export function chooseThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, objective: ThresholdObjective): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((p, q) => scores[q]! - scores[p]!);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i]!;
  if (order.length === 0 || positives === 0)
    throw new ThresholdError('choosing a threshold needs labeled predictions with at least one positive');
  // Candidates from the highest down; at each, the counts of everything at or above it.
  let tp = 0;
  let fp = 0;
  const none = nextUp(scores[order[0]!]!);
  let best: number | undefined;
  let bestCost = Infinity;
  const consider = (threshold: number) => {
    if (objective.kind === 'target_precision') {
      // Keeps the lowest candidate that reaches the target (candidates come highest first).
      if (tp + fp > 0 && tp / (tp + fp) >= objective.target) best = threshold;
    } else if (objective.kind === 'target_recall') {
      if (best === undefined && tp / positives >= objective.target) best = threshold;
    } else {
      const cost = fp * objective.costs.fp + (positives - tp) * objective.costs.fn;
      if (cost < bestCost) {
        bestCost = cost;
        best = threshold;
      }
    }
  };
  consider(none);
  for (let k = 0; k < order.length;) {
    const score = scores[order[k]!]!;
    for (; k < order.length && scores[order[k]!] === score; k++) {
      if (labels[order[k]!] === 1) tp += 1;
      else fp += 1;
    }
    consider(score);
  }
  // A cost is always found; only a target can be out of reach.
  if (best === undefined && objective.kind !== 'min_cost') {
    throw new ThresholdError(
      `no threshold reaches ${objective.kind === 'target_precision' ? 'precision' : 'recall'} ${objective.target} on the training rows`,
    );
  }
  return best!;
}
