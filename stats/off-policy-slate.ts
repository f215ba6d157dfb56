/**
 * Slate estimators (docs/off-policy.md, "Slates"): the value of a target ranking policy when
 * a request's rows form one slate, ordered by position (k = 1..K). The formulas are the Open
 * Bandit Pipeline's (`obp.ope.estimators_slate`): each estimate is Σ over rows of r(k)·w
 * divided by the number of slates, with
 *
 * - SIPS  w = Π_j π_e(a_j) / π_b(slate)   (SlateStandardIPS: no assumption on the reward);
 * - IIPS  w(k) = π_e(a_k) / π_b(a_k)       (SlateIndependentIPS: item-position click model);
 * - RIPS  w(k) = Π_{j≤k} π_e(a_j) / Π_{j≤k} π_b(a_j)   (SlateRewardInteractionIPS: cascade).
 *
 * With per-position propensities π_b(slate) = Π_j π_b(a_j), independence across positions
 * assumed for both policies; with a joint propensity (every row of a slate carries π_b of the
 * whole slate) only SIPS is defined. The test vectors come from
 * test/fixtures/off-policy/generate_slate.py.
 */
import { percentileOfSorted, type BootstrapOptions, type Estimate } from './off-policy';

export const SLATE_ESTIMATORS = ['sips', 'iips', 'rips'] as const;
export type SlateEstimatorName = (typeof SLATE_ESTIMATORS)[number];

/** `position`: each row's propensity is π_b of its item at its position; `joint`: π_b of the whole slate. */
export type SlatePropensity = 'position' | 'joint';
/** `sum`: the slate earns the sum of its positions' rewards; `any`: 1 when any position has a positive reward. */
export type SlateReward = 'sum' | 'any';

/** The rows of the logged slates, slate after slate, each slate's rows in position order. */
export interface LoggedSlates {
  /** Row offsets: slate s is rows [start[s], start[s + 1]); length = slates + 1. */
  start: Int32Array;
  propensity: Float64Array;
  /** π_e of the row's logged item at its position. */
  target: Float64Array;
  reward: Float64Array;
}

export interface SlateEstimates {
  estimators: Record<SlateEstimatorName, Estimate>;
  n_slates: number;
  n_rows: number;
  /** Kish's (Σ W)² / Σ W² of the slate weights W (SIPS's): how many slates the estimate really rests on. */
  effective_sample_size: number | null;
  max_weight: number | null;
  /** Mean logged slate reward: the logging policy's own value. */
  logged_policy_value: number | null;
  /** The smallest and largest logged slate reward; null without slates. */
  reward_range: { min: number; max: number } | null;
}

/**
 * The row rewards of the slate reward: as logged for `sum`; for `any`, 1 at the first position
 * with a positive reward and 0 elsewhere, so a slate's rows sum to its any-click reward and
 * IIPS and RIPS credit the click that ended the scan (a cascade reading).
 */
function rowRewards(slates: LoggedSlates, reward: SlateReward): Float64Array {
  if (reward === 'sum') return slates.reward;
  const out = new Float64Array(slates.reward.length);
  for (let s = 0; s + 1 < slates.start.length; s += 1) {
    for (let i = slates.start[s]!; i < slates.start[s + 1]!; i += 1) {
      if (slates.reward[i]! > 0) {
        out[i] = 1;
        break;
      }
    }
  }
  return out;
}

/** SIPS, IIPS and RIPS with bootstrap intervals over slates (OBP's per-slate sums, resampled), and the slate weights' diagnostics. */
export function estimateSlates(
  slates: LoggedSlates,
  options: { propensity: SlatePropensity; reward: SlateReward },
  bootstrap: BootstrapOptions,
): SlateEstimates {
  const n = slates.start.length - 1;
  const reward = rowRewards(slates, options.reward);
  const joint = options.propensity === 'joint';
  // Per slate: the three estimators' terms Σ_k r(k)·w, the slate weight and the slate reward.
  const terms = new Float64Array(3 * n);
  const slateWeight = new Float64Array(n);
  const slateReward = new Float64Array(n);
  for (let s = 0; s < n; s += 1) {
    const from = slates.start[s]!;
    const to = slates.start[s + 1]!;
    let targetPrefix = 1;
    let loggedPrefix = 1;
    let iips = 0;
    let rips = 0;
    let total = 0;
    for (let i = from; i < to; i += 1) {
      const r = reward[i]!;
      targetPrefix *= slates.target[i]!;
      loggedPrefix *= slates.propensity[i]!;
      iips += r * (slates.target[i]! / slates.propensity[i]!);
      rips += r * (targetPrefix / loggedPrefix);
      total += r;
    }
    const w = targetPrefix / (joint ? slates.propensity[from]! : loggedPrefix);
    terms[3 * s] = w * total;
    terms[3 * s + 1] = iips;
    terms[3 * s + 2] = rips;
    slateWeight[s] = w;
    slateReward[s] = total;
  }
  const defined = (j: number) => n > 0 && (j === 0 || !joint);
  const mean = (j: number, draw: (() => number) | null) => {
    let sum = 0;
    for (let b = 0; b < n; b += 1) sum += terms[3 * (draw === null ? b : draw()) + j]!;
    return sum / n;
  };
  const resampled = SLATE_ESTIMATORS.map(() => new Float64Array(n > 0 ? bootstrap.resamples : 0));
  if (n > 0) {
    for (let b = 0; b < bootstrap.resamples; b += 1) {
      // One drawn set of slates per resample, shared by the three estimators.
      const drawn = Int32Array.from({ length: n }, () => bootstrap.nextIndex());
      let at = 0;
      const replay = () => drawn[at++ % n]!;
      for (let j = 0; j < 3; j += 1) resampled[j]![b] = mean(j, replay);
    }
  }
  const estimators = {} as Record<SlateEstimatorName, Estimate>;
  SLATE_ESTIMATORS.forEach((name, j) => {
    if (!defined(j)) {
      estimators[name] = { value: null, ci_low: null, ci_high: null };
      return;
    }
    const sorted = resampled[j]!.sort();
    estimators[name] = {
      value: mean(j, null),
      ci_low: percentileOfSorted(sorted, 100 * (bootstrap.alpha / 2)),
      ci_high: percentileOfSorted(sorted, 100 * (1 - bootstrap.alpha / 2)),
    };
  });
  let sumW = 0;
  let sumW2 = 0;
  let maxW = -Infinity;
  let sumR = 0;
  let minR = Infinity;
  let maxR = -Infinity;
  for (let s = 0; s < n; s += 1) {
    sumW += slateWeight[s]!;
    sumW2 += slateWeight[s]! ** 2;
    maxW = Math.max(maxW, slateWeight[s]!);
    sumR += slateReward[s]!;
    minR = Math.min(minR, slateReward[s]!);
    maxR = Math.max(maxR, slateReward[s]!);
  }
  return {
    estimators,
    n_slates: n,
    n_rows: slates.propensity.length,
    effective_sample_size: n === 0 ? null : sumW2 === 0 ? 0 : (sumW * sumW) / sumW2,
    max_weight: n === 0 ? null : maxW,
    logged_policy_value: n === 0 ? null : sumR / n,
    reward_range: n === 0 ? null : { min: minR, max: maxR },
  };
}
