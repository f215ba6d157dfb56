/**
 * `hindsight ope --by position` and the support diagnostics of every `ope` run
 * (docs/off-policy.md, "Positions"): the rounds split by their logged position, each part
 * estimated as the whole is, with its effective sample size, largest weight and the share of
 * the target policy's mass on actions the log never took.
 */
import {
  estimateOffPolicy,
  reliabilityWarnings,
  type Estimate,
  type EstimatorName,
  type LoggedRounds,
  type ReliabilityFacts,
} from '../../stats/off-policy';
import { mulberry32 } from '../../stats/seeded-random';

/** Per round, besides the numbers of the estimators: its logged position (NaN without) and the target mass on never-logged actions. */
export interface RoundSupport {
  position: Float64Array;
  unlogged: Float64Array;
}

export interface PositionEstimate {
  /** null: the rounds that log no position. */
  position: number | null;
  n: number;
  effective_sample_size: number | null;
  max_weight: number | null;
  /** Mean over the rounds of the target policy's probability on actions no usable round logged. */
  unlogged_target_share: number | null;
  logged_policy_value: number | null;
  estimators: Record<EstimatorName, Estimate>;
}

/** Mean of `values` at `index` (all when null); null when empty. */
export function meanOf(values: Float64Array, index: number[] | null = null): number | null {
  const n = index === null ? values.length : index.length;
  if (n === 0) return null;
  let sum = 0;
  for (let k = 0; k < n; k += 1) sum += values[index === null ? k : index[k]!]!;
  return sum / n;
}

const subset = (rounds: LoggedRounds, index: number[]): LoggedRounds => {
  const pick = (values: Float64Array) => Float64Array.from(index, (i) => values[i]!);
  return {
    propensity: pick(rounds.propensity),
    target: pick(rounds.target),
    reward: pick(rounds.reward),
    direct: pick(rounds.direct),
    modeled: pick(rounds.modeled),
  };
};

/**
 * The estimate of each logged position (ascending, rounds without a position last), each
 * bootstrapped with its own stream seeded by `seed`, so a position's numbers do not depend on
 * the others'; with the reliability warnings of each, prefixed by the position.
 */
export function estimateByPosition(
  rounds: LoggedRounds,
  support: RoundSupport,
  unloggedActions: string[],
  options: { clip: number | null; resamples: number; seed: number; alpha: number },
): { by_position: PositionEstimate[]; warnings: string[] } {
  const groups = new Map<number | null, number[]>();
  support.position.forEach((value, i) => {
    const key = Number.isNaN(value) ? null : value;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const keys = [...groups.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  const warnings: string[] = [];
  const by_position = keys.map((position) => {
    const index = groups.get(position)!;
    const part = subset(rounds, index);
    const random = mulberry32(options.seed);
    const estimates = estimateOffPolicy(part, options.clip, {
      resamples: options.resamples,
      alpha: options.alpha,
      nextIndex: () => Math.floor(random() * index.length),
    });
    const unloggedRounds = index.filter((i) => support.unlogged[i]! > 0).length;
    const facts: ReliabilityFacts = {
      n: estimates.n,
      effective_sample_size: estimates.effective_sample_size,
      reward_range: rangeOf(part.reward),
      unlogged: { rounds: unloggedRounds, actions: unloggedActions, mean_weight: meanOf(support.unlogged, index) ?? 0 },
    };
    for (const warning of reliabilityWarnings(facts, estimates.estimators)) warnings.push(`position ${position ?? '(none)'}: ${warning}`);
    return {
      position,
      n: estimates.n,
      effective_sample_size: estimates.effective_sample_size,
      max_weight: estimates.max_weight,
      unlogged_target_share: meanOf(support.unlogged, index),
      logged_policy_value: estimates.logged_policy_value,
      estimators: estimates.estimators,
    };
  });
  return { by_position, warnings };
}

export function rangeOf(values: Float64Array): { min: number; max: number } | null {
  if (values.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  return { min, max };
}
