/**
 * Calibration of binary scores from per-bin sums: scikit-learn's calibration_curve bins
 * (uniform and quantile, empty bins dropped as it drops them), ECE over the uniform bins,
 * and the rank-based score deciles (docs/metrics.md). Pure, so tested directly.
 */
import type { BinSums } from './bin-sums';

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  mean_predicted: number;
  fraction_positive: number;
}

export interface CalibrationCurves {
  uniform: CalibrationBin[];
  quantile: CalibrationBin[];
}

export interface ScoreDecile {
  /** 1 holds the lowest scores, 10 the highest. */
  decile: number;
  count: number;
  n_positive: number;
  min_score: number;
  max_score: number;
  mean_predicted: number;
  fraction_positive: number;
}

/** numpy.linspace(0, 1, 11): edge k is k * 0.1 in float64 (and exactly 1 at the end). */
export function uniformEdge(k: number): number {
  return k === 10 ? 1 : k * 0.1;
}

function toCalibrationBin(sums: BinSums, lower: number, upper: number): CalibrationBin {
  return {
    lower,
    upper,
    count: sums.count,
    mean_predicted: sums.score_sum / sums.count,
    fraction_positive: sums.positives / sums.count,
  };
}

function nonEmptyInOrder(bins: BinSums[]): BinSums[] {
  return bins.filter((bin) => bin.count > 0).sort((a, b) => a.bin - b.bin);
}

/** Ten equal-width bins on [0, 1], right-closed, the first including 0. */
export function uniformCalibration(bins: BinSums[]): CalibrationBin[] {
  return nonEmptyInOrder(bins).map((bin) => toCalibrationBin(bin, uniformEdge(bin.bin), uniformEdge(bin.bin + 1)));
}

/** Ten bins between the score deciles `edges` (11 values, numpy's linear percentiles). */
export function quantileCalibration(bins: BinSums[], edges: ReadonlyArray<number | null>): CalibrationBin[] {
  return nonEmptyInOrder(bins).map((bin) => toCalibrationBin(bin, edges[bin.bin] ?? Number.NaN, edges[bin.bin + 1] ?? Number.NaN));
}

/**
 * Expected calibration error: the count-weighted mean of |mean predicted − fraction
 * positive| over the uniform bins. Null without labeled predictions.
 */
export function expectedCalibrationError(bins: CalibrationBin[]): number | null {
  let total = 0;
  let weighted = 0;
  for (const bin of bins) {
    total += bin.count;
    weighted += bin.count * Math.abs(bin.mean_predicted - bin.fraction_positive);
  }
  return total === 0 ? null : weighted / total;
}

export function scoreDeciles(bins: BinSums[]): ScoreDecile[] {
  return nonEmptyInOrder(bins).map((bin) => ({
    decile: bin.bin,
    count: bin.count,
    n_positive: bin.positives,
    min_score: bin.min_score,
    max_score: bin.max_score,
    mean_predicted: bin.score_sum / bin.count,
    fraction_positive: bin.positives / bin.count,
  }));
}
