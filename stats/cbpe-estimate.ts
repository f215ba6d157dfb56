/**
 * Confidence-based performance estimation (CBPE, as NannyML computes it) of one chunk of
 * predictions from calibrated probabilities and the model's own decisions, and the same
 * metrics realized from labels, side by side (docs/diagnose.md). Pure: each prediction's
 * probability pᵢ (calibrated first, by the caller) is read as the chance its label is 1, so
 * the confusion matrix is expected rather than counted: TP = Σ pᵢ fᵢ, FP = Σ (1 − pᵢ) fᵢ,
 * FN = Σ pᵢ (1 − fᵢ), TN = Σ (1 − pᵢ)(1 − fᵢ), with fᵢ the 0/1 decision.
 */

export interface ConfusionMatrix {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface ChunkMetrics {
  roc_auc: number | null;
  pr_auc: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  specificity: number | null;
  accuracy: number | null;
  /** Positives (expected, or labeled) among all predictions. */
  positive_rate: number | null;
  confusion_matrix: ConfusionMatrix;
}

export const CHUNK_METRICS = ['roc_auc', 'pr_auc', 'precision', 'recall', 'f1', 'specificity', 'accuracy', 'positive_rate'] as const;
export type ChunkMetric = (typeof CHUNK_METRICS)[number];

const ratio = (numerator: number, denominator: number): number | null => (denominator > 0 ? numerator / denominator : null);

/**
 * The metrics from per-row weights: row i counts `positive[i]` times as a positive and
 * `negative[i]` times as a negative (1 and 0 for a label, p and 1 − p for an estimate), ranked
 * by `rank[i]`. ROC AUC is the area under the (weighted) ROC curve with tied ranks as one
 * step, as sklearn.metrics.roc_auc_score(sample_weight) gives; PR AUC is average precision,
 * Σ (Rₖ − Rₖ₋₁) Pₖ over distinct ranks from the top, as average_precision_score(sample_weight).
 */
function weightedChunkMetrics(
  rank: ArrayLike<number>,
  positive: ArrayLike<number>,
  negative: ArrayLike<number>,
  flagged: ArrayLike<number>,
): ChunkMetrics {
  const n = rank.length;
  const matrix: ConfusionMatrix = { tp: 0, fp: 0, fn: 0, tn: 0 };
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < n; i++) {
    positives += positive[i]!;
    negatives += negative[i]!;
    if (flagged[i] === 1) {
      matrix.tp += positive[i]!;
      matrix.fp += negative[i]!;
    } else {
      matrix.fn += positive[i]!;
      matrix.tn += negative[i]!;
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => rank[b]! - rank[a]!);
  // From the top rank down: the area of each step (trapezoids where ranks tie), and average precision.
  let area = 0;
  let ap = 0;
  let tpAbove = 0;
  let fpAbove = 0;
  for (let start = 0; start < n;) {
    let groupPositive = 0;
    let groupNegative = 0;
    let end = start;
    for (; end < n && rank[order[end]!] === rank[order[start]!]; end++) {
      groupPositive += positive[order[end]!]!;
      groupNegative += negative[order[end]!]!;
    }
    area += groupNegative * (tpAbove + groupPositive / 2);
    tpAbove += groupPositive;
    fpAbove += groupNegative;
    if (groupPositive > 0) ap += (groupPositive / positives) * (tpAbove / (tpAbove + fpAbove));
    start = end;
  }
  const { tp, fp, fn, tn } = matrix;
  return {
    roc_auc: positives > 0 && negatives > 0 ? area / (positives * negatives) : null,
    pr_auc: positives > 0 ? ap : null,
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    specificity: ratio(tn, tn + fp),
    accuracy: ratio(tp + tn, n),
    positive_rate: ratio(positives, n),
    confusion_matrix: matrix,
  };
}

/** The CBPE estimate from calibrated probabilities and the decisions (1 flagged, 0 not); ranks by the probabilities, as NannyML does. */
export function estimateChunk(probabilities: ArrayLike<number>, flagged: ArrayLike<number>): ChunkMetrics {
  const negative = Float64Array.from(probabilities as ArrayLike<number>, (p) => 1 - p);
  return weightedChunkMetrics(probabilities, probabilities, negative, flagged);
}

/** The same metrics realized from 0/1 labels, ranked by the raw scores (as `evaluate` computes them). */
export function realizedChunk(scores: ArrayLike<number>, labels: ArrayLike<number>, flagged: ArrayLike<number>): ChunkMetrics {
  const negative = Float64Array.from(labels as ArrayLike<number>, (y) => 1 - y);
  return weightedChunkMetrics(scores, labels, negative, flagged);
}

/**
 * NannyML's default thresholds: each metric's mean over the reference chunks ± `sigmas`
 * standard deviations (population, ddof 0, as numpy.std), clipped to [0, 1]; null for a metric
 * fewer than two chunks define.
 */
export function referenceBand(chunks: ChunkMetrics[], sigmas = 3): Record<ChunkMetric, [number, number] | null> {
  return Object.fromEntries(
    CHUNK_METRICS.map((metric) => {
      const values = chunks.map((chunk) => chunk[metric]).filter((value): value is number => value !== null);
      if (values.length < 2) return [metric, null];
      const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
      const sd = Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length);
      return [metric, [Math.max(0, mean - sigmas * sd), Math.min(1, mean + sigmas * sd)]];
    }),
  ) as Record<ChunkMetric, [number, number] | null>;
}
