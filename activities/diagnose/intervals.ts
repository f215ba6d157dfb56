/**
 * The 95% intervals the diagnosis judges differences by (docs/diagnose.md). Pure, so the
 * unit tests hold them to the published worked examples.
 */

import { wilsonInterval as wilson, Z95, type Interval } from '../../stats/statistics';

export { Z95, type Interval };

/** Wilson's score interval for k successes in n trials (Newcombe 1998, method 3); null when n = 0. */
export function wilsonInterval(k: number, n: number, z = Z95): Interval | null {
  return n === 0 ? null : wilson(k, n, z);
}

/** A difference of two quantities with its 95% interval. */
export interface Difference {
  current: number;
  baseline: number;
  difference: number;
  low: number;
  high: number;
}

/**
 * k1/n1 − k2/n2 with Newcombe's hybrid score interval (1998, method 10), built from the two
 * Wilson intervals: unlike the Wald interval it stays inside [−1, 1] and keeps its coverage
 * for proportions near 0 or 1 and small counts. Null when either side has no trials.
 */
export function proportionDifference(k1: number, n1: number, k2: number, n2: number): Difference | null {
  const w1 = wilsonInterval(k1, n1);
  const w2 = wilsonInterval(k2, n2);
  if (w1 === null || w2 === null) return null;
  const p1 = k1 / n1;
  const p2 = k2 / n2;
  const difference = p1 - p2;
  return {
    current: p1,
    baseline: p2,
    difference,
    low: difference - Math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2),
    high: difference + Math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2),
  };
}

/** current − baseline of two independent estimates with standard errors: the normal interval. */
export function normalDifference(current: number, currentSe: number, baseline: number, baselineSe: number): Difference {
  const difference = current - baseline;
  const half = Z95 * Math.sqrt(currentSe ** 2 + baselineSe ** 2);
  return { current, baseline, difference, low: difference - half, high: difference + half };
}

/**
 * A drop that matters: the whole interval lies below zero (significant) and the point
 * estimate is at least `minimum` below the baseline (material), `minimum` an absolute
 * amount or, with `relative`, a share of the baseline.
 */
export function isMaterialDrop(d: Difference, minimum: number, { relative = false } = {}): boolean {
  const threshold = relative ? minimum * Math.abs(d.baseline) : minimum;
  return d.high < 0 && -d.difference >= threshold;
}

/** The same for a change either way. */
export function isMaterialChange(d: Difference, minimum: number): boolean {
  return (d.high < 0 || d.low > 0) && Math.abs(d.difference) >= minimum;
}
