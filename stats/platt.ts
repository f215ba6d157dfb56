/**
 * Platt scaling exactly as scikit-learn's `_sigmoid_calibration(predictions, y)` poses it:
 * smoothed targets T₊ = (N₊ + 1) / (N₊ + 2) for positives and T₋ = 1 / (N₋ + 2) for
 * negatives, and (a, b) minimizing −Σ T ln P + (1 − T) ln(1 − P), P = 1 / (1 + exp(a·s + b)),
 * starting from a = 0, b = ln((N₋ + 1) / (N₊ + 1)). The problem is convex (a logistic
 * regression on one feature with soft targets), so Newton's method with a halving line search
 * reaches its optimum to machine precision; scikit-learn's BFGS stops at a gradient of 1e-5,
 * within about 1e-6 of that optimum (docs/calibration.md says how close, per fixture).
 */

/** A fitted sigmoid, p = 1 / (1 + exp(a·score + b)): the shape client/calibrator.ts applies (the SDK spells its own copy). */
export interface PlattParameters {
  a: number;
  b: number;
}

export class CalibrationFitError extends Error {
  override readonly name = 'CalibrationFitError';
}

/** ln(1 + exp(x)) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** 1 / (1 + exp(z)), stable for both signs. */
function expitNeg(z: number): number {
  if (z >= 0) {
    const e = Math.exp(-z);
    return e / (1 + e);
  }
  return 1 / (1 + Math.exp(z));
}

interface PlattProblem {
  scores: ArrayLike<number>;
  targets: Float64Array;
}

/** The smoothed targets of `_sigmoid_calibration` (labels ≤ 0 are negatives, as there). */
function plattProblem(scores: ArrayLike<number>, labels: ArrayLike<number>): { problem: PlattProblem; prior0: number; prior1: number } {
  let prior1 = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > 0) prior1 += 1;
  const prior0 = labels.length - prior1;
  const hi = (prior1 + 1) / (prior1 + 2);
  const lo = 1 / (prior0 + 2);
  const targets = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) targets[i] = labels[i]! > 0 ? hi : lo;
  return { problem: { scores, targets }, prior0, prior1 };
}

/** The objective: Σ T·softplus(z) + (1 − T)·softplus(−z), z = a·s + b (= −Σ T ln P + (1 − T) ln(1 − P)). */
function objective({ scores, targets }: PlattProblem, a: number, b: number): number {
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    const z = a * scores[i]! + b;
    total += targets[i]! * softplus(z) + (1 - targets[i]!) * softplus(-z);
  }
  return total;
}

/** Gradient (scikit-learn's `grad`: Σ (T − P)·s, Σ (T − P)) and Hessian Σ P(1 − P)·[s², s; s, 1]. */
function derivatives({ scores, targets }: PlattProblem, a: number, b: number) {
  let ga = 0;
  let gb = 0;
  let haa = 0;
  let hab = 0;
  let hbb = 0;
  for (let i = 0; i < targets.length; i++) {
    const s = scores[i]!;
    const p = expitNeg(a * s + b);
    const r = targets[i]! - p;
    const w = p * (1 - p);
    ga += r * s;
    gb += r;
    haa += w * s * s;
    hab += w * s;
    hbb += w;
  }
  return { ga, gb, haa, hab, hbb };
}

/** The gradient of the Platt objective at (a, b), for judging how close an answer is to the optimum. */
export function plattGradient(scores: ArrayLike<number>, labels: ArrayLike<number>, parameters: PlattParameters): [number, number] {
  const { problem } = plattProblem(scores, labels);
  const { ga, gb } = derivatives(problem, parameters.a, parameters.b);
  return [ga, gb];
}

/**
 * Fits Platt scaling on raw scores and 0/1 labels. Needs two distinct scores (otherwise a
 * and b are not identified: every line through the one score fits equally well).
 */
export function fitPlatt(scores: ArrayLike<number>, labels: ArrayLike<number>): PlattParameters {
  if (scores.length !== labels.length) throw new CalibrationFitError(`${scores.length} scores but ${labels.length} labels`);
  let distinct = false;
  for (let i = 1; i < scores.length && !distinct; i++) distinct = scores[i] !== scores[0];
  if (!distinct) throw new CalibrationFitError('Platt scaling needs at least two distinct scores');
  const { problem, prior0, prior1 } = plattProblem(scores, labels);
  let a = 0;
  let b = Math.log((prior0 + 1) / (prior1 + 1));
  let value = objective(problem, a, b);
  for (let iteration = 0; iteration < 100; iteration++) {
    const { ga, gb, haa, hab, hbb } = derivatives(problem, a, b);
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) throw new CalibrationFitError('Platt scaling: the scores carry no information to fit a slope (singular Hessian)');
    // The Newton step −H⁻¹g (g is the objective's gradient, as scikit-learn's `grad` returns it).
    const da = -(hbb * ga - hab * gb) / det;
    const db = -(haa * gb - hab * ga) / det;
    let step = 1;
    let next = objective(problem, a + da, b + db);
    // Halve while the objective rises by more than its rounding: near the optimum the full
    // step is taken even when rounding makes it look a hair worse, so Newton converges.
    while (next > value + 1e-12 * (1 + Math.abs(value)) && step > 1e-12) {
      step /= 2;
      next = objective(problem, a + step * da, b + step * db);
    }
    a += step * da;
    b += step * db;
    value = next;
    if (Math.max(Math.abs(step * da), Math.abs(step * db)) <= 1e-15 * (1 + Math.max(Math.abs(a), Math.abs(b)))) break;
  }
  return { a, b };
}
