/**
 * Off-policy estimators: the value a target policy would have had on logged traffic, from
 * each logged round's reward and the probabilities both policies give its logged action
 * (docs/off-policy.md). The formulas are those of the Open Bandit Pipeline
 * (`obp.ope.estimators`), with w = π_e(a|x) / π_b(a|x) for the logged action a:
 *
 * - IPW   mean(r · w), w clipped at λ when a clip is given (InverseProbabilityWeighting);
 * - SNIPS Σ r·w / Σ w (SelfNormalizedInverseProbabilityWeighting);
 * - DM    mean(Σ_a π_e(a|x) q̂(x, a)) (DirectMethod);
 * - DR    DM + mean(min(w, λ) · (r − q̂(x, a))) (DoublyRobust, its weights clipped like IPW's).
 *
 * Pure functions over compact typed arrays (one entry per logged round), so a million
 * rounds cost a few tens of megabytes; the test vectors come from
 * test/fixtures/off-policy/generate.py.
 */

/** One entry per logged round, all of the same length. */
export interface LoggedRounds {
  /** π_b(a|x): the logged propensity of the logged action, 0 < p ≤ 1. */
  propensity: Float64Array;
  /** π_e(a|x): the target policy's probability of the logged action. */
  target: Float64Array;
  reward: Float64Array;
  /** Σ_a π_e(a|x) q̂(x, a): the reward model's value of the target policy in this round. */
  direct: Float64Array;
  /** q̂(x, a) for the logged action. */
  modeled: Float64Array;
}

export interface Estimate {
  value: number | null;
  ci_low: number | null;
  ci_high: number | null;
}

export const ESTIMATORS = ['ipw', 'snips', 'dm', 'dr'] as const;
export type EstimatorName = (typeof ESTIMATORS)[number];

export interface OffPolicyEstimates {
  estimators: Record<EstimatorName, Estimate>;
  n: number;
  /** Kish's (Σ w)² / Σ w² of the unclipped weights: how many rounds the estimate really rests on. */
  effective_sample_size: number | null;
  /** The largest unclipped weight π_e / π_b: one round with it counts as that many. */
  max_weight: number | null;
  /** Mean logged reward: the logging policy's own value, the naive estimate. */
  logged_policy_value: number | null;
}

export interface BootstrapOptions {
  resamples: number;
  /** Two-sided: the interval is the α/2 and 1 − α/2 percentiles of the resampled estimates. */
  alpha: number;
  /** The next resampled round index in [0, n): uniform with replacement. */
  nextIndex: () => number;
}

/** numpy.percentile(values, q) with the default linear method, for sorted `values`. */
export function percentileOfSorted(values: Float64Array, q: number): number {
  const position = (values.length - 1) * (q / 100);
  const below = Math.floor(position);
  const above = Math.min(below + 1, values.length - 1);
  const t = position - below;
  const a = values[below]!;
  const b = values[above]!;
  // NumPy's _lerp: from the nearer end, so the result stays inside [a, b] bit for bit.
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/** The sums every estimator is built from, over the rounds `index(0..n-1)`. */
interface RoundSums {
  n: number;
  ipw: number;
  rw: number;
  w: number;
  dm: number;
  dr: number;
}

/**
 * Per round, the terms each estimator averages: r·min(w, λ), r·w, w, the direct term and the
 * doubly robust term (with min(w, λ), as OBP's DoublyRobust(lambda_=λ)); laid out in one array (5 per round) so a resample touches one cache line.
 */
function roundTerms(rounds: LoggedRounds, clip: number | null): Float64Array {
  const terms = new Float64Array(rounds.propensity.length * 5);
  for (let i = 0; i < rounds.propensity.length; i += 1) {
    const w = rounds.target[i]! / rounds.propensity[i]!;
    const r = rounds.reward[i]!;
    const clipped = clip === null ? w : Math.min(w, clip);
    terms[5 * i] = r * clipped;
    terms[5 * i + 1] = r * w;
    terms[5 * i + 2] = w;
    terms[5 * i + 3] = rounds.direct[i]!;
    terms[5 * i + 4] = rounds.direct[i]! + clipped * (r - rounds.modeled[i]!);
  }
  return terms;
}

/** Sums the terms of n rounds, each drawn by `draw()` (an index in [0, n)), or all rounds when `draw` is null. */
function sumRounds(terms: Float64Array, n: number, draw: (() => number) | null): RoundSums {
  let ipw = 0;
  let rw = 0;
  let w = 0;
  let dm = 0;
  let dr = 0;
  for (let k = 0; k < n; k += 1) {
    const at = 5 * (draw === null ? k : draw());
    ipw += terms[at]!;
    rw += terms[at + 1]!;
    w += terms[at + 2]!;
    dm += terms[at + 3]!;
    dr += terms[at + 4]!;
  }
  return { n, ipw, rw, w, dm, dr };
}

function valuesOf(sums: RoundSums): Record<EstimatorName, number | null> {
  if (sums.n === 0) return { ipw: null, snips: null, dm: null, dr: null };
  return { ipw: sums.ipw / sums.n, snips: sums.w > 0 ? sums.rw / sums.w : null, dm: sums.dm / sums.n, dr: sums.dr / sums.n };
}

/**
 * IPW, SNIPS, DM and DR with bootstrap intervals, and the effective sample size. One index
 * stream drives every estimator's resamples (OBP seeds each estimator's bootstrap alike, so
 * they resample the same rounds too). OBP's SNIPS resamples r·w / mean(w) with the full
 * sample's mean weight; here each resample is normalized by its own Σ w, the bootstrap of the
 * ratio, so the interval also carries the denominator's variability. A resample whose
 * weights sum to 0 leaves SNIPS undefined and is left out of its percentiles.
 */
export function estimateOffPolicy(rounds: LoggedRounds, clip: number | null, bootstrap: BootstrapOptions): OffPolicyEstimates {
  const n = rounds.propensity.length;
  const terms = roundTerms(rounds, clip);
  const point = valuesOf(sumRounds(terms, n, null));
  const resampled: Record<EstimatorName, Float64Array> = {
    ipw: new Float64Array(bootstrap.resamples),
    snips: new Float64Array(bootstrap.resamples),
    dm: new Float64Array(bootstrap.resamples),
    dr: new Float64Array(bootstrap.resamples),
  };
  const kept: Record<EstimatorName, number> = { ipw: 0, snips: 0, dm: 0, dr: 0 };
  if (n > 0) {
    for (let b = 0; b < bootstrap.resamples; b += 1) {
      const values = valuesOf(sumRounds(terms, n, bootstrap.nextIndex));
      for (const name of ESTIMATORS) {
        const value = values[name];
        if (value !== null) resampled[name][kept[name]++] = value;
      }
    }
  }
  const estimators = {} as Record<EstimatorName, Estimate>;
  for (const name of ESTIMATORS) {
    const values = resampled[name].subarray(0, kept[name]).sort();
    const defined = point[name] !== null && values.length > 0;
    estimators[name] = {
      value: point[name],
      ci_low: defined ? percentileOfSorted(values, 100 * (bootstrap.alpha / 2)) : null,
      ci_high: defined ? percentileOfSorted(values, 100 * (1 - bootstrap.alpha / 2)) : null,
    };
  }
  let sumW = 0;
  let sumW2 = 0;
  let sumR = 0;
  let maxW = -Infinity;
  for (let i = 0; i < n; i += 1) {
    const w = terms[5 * i + 2]!;
    maxW = Math.max(maxW, w);
    sumW += w;
    sumW2 += w * w;
    sumR += rounds.reward[i]!;
  }
  return {
    estimators,
    n,
    effective_sample_size: n === 0 ? null : sumW2 === 0 ? 0 : (sumW * sumW) / sumW2,
    max_weight: n === 0 ? null : maxW,
    logged_policy_value: n === 0 ? null : sumR / n,
  };
}

/** What the reliability checks of an estimate look at, besides the estimates themselves. */
export interface ReliabilityFacts {
  n: number;
  effective_sample_size: number | null;
  /** The smallest and largest logged reward of the rounds used; null without rounds. */
  reward_range: { min: number; max: number } | null;
  /** Rounds whose target policy puts weight on actions no round logged, those actions, and that weight's mean over all rounds. */
  unlogged: { rounds: number; actions: string[]; mean_weight: number } | null;
}

/** An effective sample size under this share of n, or under {@link MIN_EFFECTIVE_SAMPLE}, rests on too few rounds. */
export const MIN_EFFECTIVE_SHARE = 0.01;
export const MIN_EFFECTIVE_SAMPLE = 100;

const round = (value: number) => Number(value.toPrecision(4));

/**
 * Why an estimate should not be trusted as it stands (docs/off-policy.md, "When not to trust
 * an estimate"): an effective sample size under 1% of n or under 100; a target policy that
 * puts weight on actions the log never took (no round says what they earn); an estimate
 * outside [min, max] of the logged rewards (no policy can earn more than the best reward,
 * so the weights, not the data, made it).
 */
export function reliabilityWarnings(
  facts: ReliabilityFacts,
  estimators: Partial<Record<string, Estimate>>,
  /** The weighted estimators' names and what a round is, for the slate estimators of ./off-policy-slate. */
  wording: { weighted: string; rounds: string; unlogged?: string } = { weighted: 'IPW, SNIPS and DR', rounds: 'rounds' },
): string[] {
  const warnings: string[] = [];
  const ess = facts.effective_sample_size;
  if (facts.n > 0 && ess !== null && (ess < MIN_EFFECTIVE_SHARE * facts.n || ess < MIN_EFFECTIVE_SAMPLE)) {
    warnings.push(
      `the effective sample size is ${round(ess)} of ${facts.n} ${wording.rounds}, under ` +
        `${ess < MIN_EFFECTIVE_SAMPLE ? MIN_EFFECTIVE_SAMPLE : `1% of them`}: the target policy's weights rest the ` +
        `${wording.weighted} estimates on a few ${wording.rounds}, so their intervals understate the error`,
    );
  }
  if (facts.unlogged && facts.unlogged.rounds > 0) {
    const shown = facts.unlogged.actions.slice(0, 5).join(', ') + (facts.unlogged.actions.length > 5 ? ', …' : '');
    warnings.push(
      `the target policy puts weight on actions the log never took (${shown}) in ${facts.unlogged.rounds} of ${facts.n} ${wording.rounds}, ` +
        `${round(100 * facts.unlogged.mean_weight)}% of its weight over all ${wording.rounds}: no round says what those actions earn ` +
        `(${wording.unlogged ?? 'IPW counts them as earning nothing, SNIPS as earning what the logged ones do, DM and DR take the reward model on trust'})`,
    );
  }
  if (facts.reward_range) {
    const { min, max } = facts.reward_range;
    const tolerance = 1e-9 * Math.max(1, Math.abs(min), Math.abs(max));
    for (const [name, estimate] of Object.entries(estimators)) {
      const value = estimate?.value ?? null;
      if (value !== null && (value < min - tolerance || value > max + tolerance))
        warnings.push(
          `${name} ${round(value)} lies outside [${round(min)}, ${round(max)}], the range of the logged rewards: ` +
            'no policy can earn that, the weights made it',
        );
    }
  }
  return warnings;
}
