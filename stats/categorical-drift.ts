/**
 * Drift of a categorical variable (a string-valued feature or a slice dimension) between a
 * reference cohort and the current one, from rows per category: the Jensen–Shannon distance
 * (natural log, as scipy.spatial.distance.jensenshannon), Pearson's chi-squared test of the
 * 2×K table (as scipy.stats.chi2_contingency, Yates' correction when dof = 1), the
 * L-infinity distance (the largest gap between the two shares of one category) and the PSI
 * over the categories (shares floored as for numeric bins). Pure: SQL counts the rows.
 */
import { chiSquaredSurvival } from './chi-squared';
import { computePsi } from './drift';

export interface CategoricalDriftResult {
  /** The categories seen on either side, sorted. */
  categories: string[];
  reference_shares: number[];
  current_shares: number[];
  psi: number | null;
  jensen_shannon: number | null;
  chi_squared: number | null;
  chi_squared_p_value: number | null;
  chi_squared_dof: number | null;
  l_infinity: number | null;
  /** Why the measures are null, when they are. */
  reason: string | null;
}

const relativeEntropy = (p: number, m: number): number => (p > 0 ? p * Math.log(p / m) : 0);

/** Jensen–Shannon distance (the square root of the divergence, natural log) between two share vectors. */
export function jensenShannonDistance(p: readonly number[], q: readonly number[]): number {
  let divergence = 0;
  for (let k = 0; k < p.length; k++) {
    const m = (p[k]! + q[k]!) / 2;
    divergence += relativeEntropy(p[k]!, m) + relativeEntropy(q[k]!, m);
  }
  return Math.sqrt(Math.max(0, divergence / 2));
}

/**
 * Pearson's chi-squared statistic of the 2×K table (reference row, current row) with its
 * degrees of freedom and p-value, as scipy.stats.chi2_contingency(table): with one degree of
 * freedom each |observed − expected| shrinks by min(0.5, |observed − expected|) first
 * (Yates); with none (one category) the statistic is 0 and the p-value 1.
 */
export function chiSquaredTwoByK(
  reference: readonly number[],
  current: readonly number[],
): { statistic: number; dof: number; p_value: number } {
  const rows = [reference, current];
  const rowTotals = rows.map((row) => row.reduce((sum, count) => sum + count, 0));
  const total = rowTotals[0]! + rowTotals[1]!;
  const dof = reference.length - 1;
  if (dof === 0) return { statistic: 0, dof, p_value: 1 };
  let statistic = 0;
  for (let k = 0; k < reference.length; k++) {
    const columnTotal = reference[k]! + current[k]!;
    for (let r = 0; r < 2; r++) {
      const expected = (rowTotals[r]! * columnTotal) / total;
      let gap = Math.abs(rows[r]![k]! - expected);
      if (dof === 1) gap -= Math.min(0.5, gap);
      statistic += (gap * gap) / expected;
    }
  }
  return { statistic, dof, p_value: chiSquaredSurvival(statistic, dof) };
}

/** Every measure from rows per category on each side (`{category: rows}`); categories absent on a side count 0 there. */
export function computeCategoricalDrift(
  referenceCounts: Readonly<Record<string, number>>,
  currentCounts: Readonly<Record<string, number>>,
): CategoricalDriftResult {
  const categories = [...new Set([...Object.keys(referenceCounts), ...Object.keys(currentCounts)])]
    .filter((category) => (referenceCounts[category] ?? 0) + (currentCounts[category] ?? 0) > 0)
    .sort();
  const reference = categories.map((category) => referenceCounts[category] ?? 0);
  const current = categories.map((category) => currentCounts[category] ?? 0);
  const psi = computePsi(reference, current);
  const base = { categories, reference_shares: psi.reference_shares, current_shares: psi.current_shares };
  if (psi.reason !== null) {
    return {
      ...base,
      psi: null,
      jensen_shannon: null,
      chi_squared: null,
      chi_squared_p_value: null,
      chi_squared_dof: null,
      l_infinity: null,
      reason: psi.reason,
    };
  }
  const chi = chiSquaredTwoByK(reference, current);
  return {
    ...base,
    psi: psi.psi,
    jensen_shannon: jensenShannonDistance(psi.reference_shares, psi.current_shares),
    chi_squared: chi.statistic,
    chi_squared_p_value: chi.p_value,
    chi_squared_dof: chi.dof,
    l_infinity: Math.max(...psi.reference_shares.map((share, k) => Math.abs(share - psi.current_shares[k]!))),
    reason: null,
  };
}
