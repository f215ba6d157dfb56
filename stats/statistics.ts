/**
 * The statistical gates of alert rules (docs/alerts.md): intervals for proportions and their
 * differences, one-sided tests, the Hanley–McNeil standard error of ROC AUC, and
 * Benjamini–Hochberg control of the false-discovery rate across the slices of one rule.
 */

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * Φ(x), the standard normal CDF, through erfc by the Numerical Recipes Chebyshev fit
 * (relative error below 1.2e-7 everywhere), plenty for a gate at α = 0.05.
 */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

export interface Interval {
  low: number;
  high: number;
}

/** Wilson score interval of x successes in n trials. */
export function wilsonInterval(x: number, n: number, z = Z95): Interval {
  if (n <= 0) return { low: 0, high: 1 };
  const p = x / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  // At 0 and at n successes the edge is exactly 0 (or 1); computed, it is off by a rounding error.
  return { low: x <= 0 ? 0 : Math.max(0, centre - half), high: x >= n ? 1 : Math.min(1, centre + half) };
}

/**
 * Newcombe's hybrid score interval (his method 10) for p1 − p0 from two independent samples:
 * built from each Wilson interval, so it stays inside [−1, 1] and behaves at 0 and n.
 */
export function newcombeDifference(x1: number, n1: number, x0: number, n0: number, z = Z95): Interval {
  const p1 = x1 / n1;
  const p0 = x0 / n0;
  const w1 = wilsonInterval(x1, n1, z);
  const w0 = wilsonInterval(x0, n0, z);
  const d = p1 - p0;
  return {
    low: d - Math.sqrt((p1 - w1.low) ** 2 + (w0.high - p0) ** 2),
    high: d + Math.sqrt((w1.high - p1) ** 2 + (p0 - w0.low) ** 2),
  };
}

export type Alternative = 'less' | 'greater';

/** One-sided p-value of a z statistic: P(Z ≤ z) for `less`, P(Z ≥ z) for `greater`. */
export function oneSided(z: number, alternative: Alternative): number {
  return alternative === 'less' ? normalCdf(z) : 1 - normalCdf(z);
}

/** Pooled two-proportion z-test of p1 against p0 (one-sided). */
export function twoProportionPValue(x1: number, n1: number, x0: number, n0: number, alternative: Alternative): number {
  const pooled = (x1 + x0) / (n1 + n0);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0));
  if (se === 0) return 1;
  return oneSided((x1 / n1 - x0 / n0) / se, alternative);
}

/** Score test of one proportion against a fixed value p0 (one-sided). */
export function oneProportionPValue(x: number, n: number, p0: number, alternative: Alternative): number {
  const se = Math.sqrt((p0 * (1 - p0)) / n);
  if (!(se > 0)) return 1;
  return oneSided((x / n - p0) / se, alternative);
}

/** Hanley & McNeil (1982): the standard error of an ROC AUC from its positives and negatives. */
export function hanleyMcNeilSe(auc: number, positives: number, negatives: number): number {
  const q1 = auc / (2 - auc);
  const q2 = (2 * auc * auc) / (1 + auc);
  const variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives);
  return Math.sqrt(Math.max(variance, 0));
}

/**
 * Benjamini–Hochberg at level α: which of the p-values are discoveries. The largest k with
 * p(k) ≤ k·α/m, and every p-value at or below p(k), is rejected.
 */
export function benjaminiHochberg(pValues: number[], alpha: number): boolean[] {
  const m = pValues.length;
  const order = pValues.map((p, index) => ({ p, index })).sort((a, b) => a.p - b.p);
  let cutoff = -1;
  order.forEach(({ p }, rank) => {
    if (p <= ((rank + 1) * alpha) / m) cutoff = rank;
  });
  const rejected = new Array<boolean>(m).fill(false);
  for (let rank = 0; rank <= cutoff; rank++) rejected[order[rank]!.index] = true;
  return rejected;
}
