/**
 * Drift without labels (docs/metrics.md): the population stability index over the
 * 10 quantile bins frozen from the reference. Pure: SQL counts the rows per bin, this turns
 * the counts into the index, and the unit tests hold it to NumPy's numbers.
 */

/** Shares below this (empty bins above all) are raised to it so ln() stays finite. */
export const PSI_FLOOR = 1e-4;

/** Deciles of the reference: 9 inner edges make 10 bins, the outer two open-ended. */
export const PSI_QUANTILES: readonly number[] = Array.from({ length: 9 }, (_, k) => (k + 1) / 10);

export interface PsiResult {
  psi: number | null;
  /** Why `psi` is null, when it is. */
  reason: string | null;
  reference_shares: number[];
  current_shares: number[];
}

/**
 * PSI = Σ (current share − reference share) · ln(current share / reference share), with
 * each share floored at {@link PSI_FLOOR}. `referenceCounts` and `currentCounts` are rows
 * per bin (bin k holds values v with edge[k−1] ≤ v < edge[k]).
 */
export function computePsi(referenceCounts: readonly number[], currentCounts: readonly number[], floor = PSI_FLOOR): PsiResult {
  if (referenceCounts.length !== currentCounts.length) throw new Error('reference and current need the same bins');
  const referenceTotal = referenceCounts.reduce((sum, count) => sum + count, 0);
  const currentTotal = currentCounts.reduce((sum, count) => sum + count, 0);
  const reference_shares = referenceCounts.map((count) => (referenceTotal === 0 ? 0 : count / referenceTotal));
  const current_shares = currentCounts.map((count) => (currentTotal === 0 ? 0 : count / currentTotal));
  if (referenceTotal === 0 || currentTotal === 0) {
    return { psi: null, reason: referenceTotal === 0 ? 'no reference values' : 'no current values', reference_shares, current_shares };
  }
  let psi = 0;
  for (let k = 0; k < referenceCounts.length; k++) {
    const r = Math.max(reference_shares[k]!, floor);
    const c = Math.max(current_shares[k]!, floor);
    psi += (c - r) * Math.log(c / r);
  }
  return { psi, reason: null, reference_shares, current_shares };
}
