/**
 * Isotonic calibration as scikit-learn's `IsotonicRegression(increasing=True, y_min=0,
 * y_max=1, out_of_bounds="clip")` fits it: rows sorted by score, equal scores pooled into
 * one point with the mean label and their count as weight (`_make_unique`, which treats two
 * scores less than 1e-15 apart — float64's `resolution` — as equal, keeping the first), the
 * pool-adjacent-violators algorithm on those points, the result clipped to [0, 1], and
 * points whose value equals both neighbours' dropped (they change no interpolation).
 * Applying it is `isotonicProbability` in client/calibrator.ts.
 */
import { CalibrationFitError } from './platt';

/** A fitted step function: the shape client/calibrator.ts applies (the SDK spells its own copy). */
export interface IsotonicParameters {
  /** Increasing scores (sklearn's `X_thresholds_`). */
  x_thresholds: number[];
  /** Non-decreasing probabilities at those scores (`y_thresholds_`). */
  y_thresholds: number[];
}

/** `np.finfo(np.float64).resolution`: _make_unique's step between distinct scores. */
const RESOLUTION = 1e-15;

/** PAVA in place, as `_inplace_contiguous_isotonic_regression`: blocks pooled by weighted mean, with backtracking. */
function poolAdjacentViolators(y: Float64Array, w: Float64Array): void {
  const n = y.length;
  // target[i] = j and target[j] = i when [i..j] is a block.
  const target = new Int32Array(n);
  for (let i = 0; i < n; i++) target[i] = i;
  let i = 0;
  while (i < n) {
    let k = target[i]! + 1;
    if (k === n) break;
    if (y[i]! < y[k]!) {
      i = k;
      continue;
    }
    let sumWy = w[i]! * y[i]!;
    let sumW = w[i]!;
    for (;;) {
      // Within a non-increasing run: absorb block k.
      const prevY = y[k]!;
      sumWy += w[k]! * y[k]!;
      sumW += w[k]!;
      k = target[k]! + 1;
      if (k === n || prevY < y[k]!) {
        y[i] = sumWy / sumW;
        w[i] = sumW;
        target[i] = k - 1;
        target[k - 1] = i;
        if (i > 0) i = target[i - 1]!;
        break;
      }
    }
  }
  for (let start = 0; start < n;) {
    const end = target[start]! + 1;
    for (let j = start + 1; j < end; j++) y[j] = y[start]!;
    start = end;
  }
}

/** Fits the isotonic calibrator on raw scores and 0/1 labels (at least one row). */
export function fitIsotonic(scores: ArrayLike<number>, labels: ArrayLike<number>): IsotonicParameters {
  if (scores.length !== labels.length) throw new CalibrationFitError(`${scores.length} scores but ${labels.length} labels`);
  if (scores.length === 0) throw new CalibrationFitError('isotonic regression needs at least one labeled row');
  const order = Array.from({ length: scores.length }, (_, i) => i);
  // np.lexsort((y, X)): by score, then label.
  order.sort((p, q) => scores[p]! - scores[q]! || labels[p]! - labels[q]!);
  const xs: number[] = [];
  const ys: number[] = [];
  const ws: number[] = [];
  let currentX = scores[order[0]!]!;
  let sumY = 0;
  let weight = 0;
  for (const index of order) {
    const x = scores[index]!;
    if (x - currentX >= RESOLUTION) {
      xs.push(currentX);
      ys.push(sumY / weight);
      ws.push(weight);
      currentX = x;
      sumY = 0;
      weight = 0;
    }
    sumY += labels[index]!;
    weight += 1;
  }
  xs.push(currentX);
  ys.push(sumY / weight);
  ws.push(weight);

  const y = Float64Array.from(ys);
  poolAdjacentViolators(y, Float64Array.from(ws));
  for (let i = 0; i < y.length; i++) y[i] = Math.min(Math.max(y[i]!, 0), 1);

  const keptX: number[] = [];
  const keptY: number[] = [];
  for (let i = 0; i < y.length; i++) {
    const interior = i > 0 && i < y.length - 1;
    if (interior && y[i] === y[i - 1] && y[i] === y[i + 1]) continue;
    keptX.push(xs[i]!);
    keptY.push(y[i]!);
  }
  return { x_thresholds: keptX, y_thresholds: keptY };
}
