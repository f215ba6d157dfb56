/**
 * Applying a fitted calibrator to a model's raw score, for model services and for Hindsight
 * alike. Self-contained on purpose (no database, no Node builtins), so a service loads the
 * active calibrator once (`hindsight calibrate apply`, or `loadActiveCalibrator` in
 * activities/calibrate/calibrators.ts, or the `calibrators` table) and calls {@link applyCalibrator}
 * on the request path. The formulas are scikit-learn's (docs/calibration.md):
 * - platt: p = 1 / (1 + exp(a·score + b)), as `_SigmoidCalibration.predict` computes it;
 * - isotonic: `IsotonicRegression(out_of_bounds="clip")`: the score clipped to the fitted
 *   range, then linear interpolation between the fitted thresholds, as `scipy.interp1d` does.
 */

export interface PlattParameters {
  a: number;
  b: number;
}

export interface IsotonicParameters {
  /** Increasing scores (sklearn's `X_thresholds_`). */
  x_thresholds: number[];
  /** Non-decreasing probabilities at those scores (`y_thresholds_`). */
  y_thresholds: number[];
}

export type CalibratorParameters =
  { method: 'platt'; parameters: PlattParameters } | { method: 'isotonic'; parameters: IsotonicParameters };

/** A calibrator as stored (one version in `calibrators`) or fitted, reduced to what applying it needs. */
export type Calibrator = CalibratorParameters & { calibrator_id?: number };

/** 1 / (1 + exp(z)) without overflow for large |z| (scipy's `expit(-z)`). */
export function plattProbability(parameters: PlattParameters, score: number): number {
  const z = parameters.a * score + parameters.b;
  if (z >= 0) {
    const e = Math.exp(-z);
    return e / (1 + e);
  }
  return 1 / (1 + Math.exp(z));
}

/**
 * `interp1d(x, y, kind="linear")` at `score` clipped to [x₀, xₙ]: the interval is found as
 * `searchsorted(x, score)` (left) clipped to [1, n − 1], and y = slope · (score − x_lo) + y_lo.
 */
export function isotonicProbability(parameters: IsotonicParameters, score: number): number {
  const { x_thresholds: x, y_thresholds: y } = parameters;
  if (x.length === 1) return y[0]!;
  const s = Math.min(Math.max(score, x[0]!), x[x.length - 1]!);
  let lo = 0;
  let hi = x.length;
  // First index with x[i] >= s.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid]! < s) lo = mid + 1;
    else hi = mid;
  }
  const upper = Math.min(Math.max(lo, 1), x.length - 1);
  const xLo = x[upper - 1]!;
  const yLo = y[upper - 1]!;
  const slope = (y[upper]! - yLo) / (x[upper]! - xLo);
  return slope * (s - xLo) + yLo;
}

/** The calibrated probability of a raw score. A score that is not a finite number is refused. */
export function applyCalibrator(calibrator: CalibratorParameters, score: number): number {
  if (!Number.isFinite(score)) throw new RangeError(`score must be a finite number, got ${score}`);
  return calibrator.method === 'platt' ? plattProbability(calibrator.parameters, score) : isotonicProbability(calibrator.parameters, score);
}
