/**
 * The sufficient statistics of one bin of labeled predictions, as the metric SQL returns
 * them per (group, bin) for every binning (uniform, quantile, decile, threshold bucket).
 * Sums rather than means so bins from partitions can be merged by adding.
 */
export interface BinSums {
  /** The bin's index in its binning (0-based, except deciles which count from 1). */
  bin: number;
  /** Labeled predictions in the bin. */
  count: number;
  positives: number;
  score_sum: number;
  min_score: number;
  max_score: number;
}

/** `numerator / denominator`, or null when the denominator is 0 (never NaN or Infinity). */
export function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator;
}
