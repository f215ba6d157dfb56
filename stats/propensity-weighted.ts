/**
 * The propensity-weighted base rate and ROC AUC of `evaluate --propensity-weighted`
 * (docs/metrics.md), finished from the sums of ../../sql/propensity-weighted.
 */
import type { MetricInterval } from './traffic-comparison';

export interface PropensityWeightedSums {
  n_labeled: number;
  n_weighted: number;
  w_sum: number;
  wy_sum: number;
  w2_sum: number;
  w2y_sum: number;
  auc_numerator: number;
  w_positive: number;
  w_negative: number;
}

export interface PropensityWeightedMetrics {
  n_labeled: number;
  /** Labeled predictions with a logged propensity: the ones weighted. */
  n_weighted: number;
  /** Labeled predictions left out for want of a propensity. */
  n_without_propensity: number;
  /** Kish's (Σ w)² / Σ w². */
  effective_sample_size: number | null;
  /** Σ w·y / Σ w, with a 95% interval from its linearized variance Σ w² (y − rate)² / (Σ w)². */
  base_rate: MetricInterval;
  /** The weighted Mann–Whitney probability that a positive outscores a negative, ties ½. */
  roc_auc: number | null;
}

const Z = 1.959963984540054;

export function finishPropensityWeighted(sums: PropensityWeightedSums): PropensityWeightedMetrics {
  const { w_sum: w, wy_sum: wy, w2_sum: w2, w2y_sum: w2y } = sums;
  let baseRate: MetricInterval = { value: null, ci_low: null, ci_high: null };
  if (w > 0) {
    const rate = wy / w;
    // Σ w² (y − r)² with y ∈ {0, 1}: Σ w² y (1 − 2r) + r² Σ w².
    const spread = Math.max(w2y * (1 - 2 * rate) + rate * rate * w2, 0);
    const half = (Z * Math.sqrt(spread)) / w;
    baseRate = { value: rate, ci_low: Math.max(0, rate - half), ci_high: Math.min(1, rate + half) };
  }
  return {
    n_labeled: sums.n_labeled,
    n_weighted: sums.n_weighted,
    n_without_propensity: sums.n_labeled - sums.n_weighted,
    effective_sample_size: sums.n_weighted === 0 ? null : (w * w) / w2,
    base_rate: baseRate,
    roc_auc: sums.w_positive > 0 && sums.w_negative > 0 ? sums.auc_numerator / (sums.w_positive * sums.w_negative) : null,
  };
}
