/**
 * Exploration for model services: choosers that randomize a small, known share of
 * decisions and return, beside the action, the probability with which the policy chose it.
 * Logged with the prediction (`createPredictionLogger`), those fields are what off-policy
 * estimation (`hindsight ope`, docs/off-policy.md) and the evaluation's exploration-vs-policy
 * comparison (docs/metrics.md) need: labels seen only where the policy let them happen are
 * biased, and the propensity is what corrects for it.
 *
 * Every propensity is the marginal probability of the returned action (or of the item at
 * its position) under the policy, not the probability of the branch taken, so an
 * exploration draw that happens to pick the greedy action still logs the greedy action's
 * full probability.
 *
 * Self-contained like the logger (no Hindsight imports); pass `random` for reproducible
 * draws (a function returning uniform numbers in [0, 1)), Math.random otherwise.
 */

/** The fields a prediction logs about how its action was chosen (docs/ingestion.md). */
export interface LoggedChoice<A extends string = string> {
  action: A;
  /** Probability that the policy chose this action here: 0 < propensity ≤ 1. */
  propensity: number;
  policy: string;
  /** The action came from the randomized part of the policy. */
  is_exploration: boolean;
}

export type UniformRandom = () => number;

function checkEpsilon(epsilon: number): void {
  if (!(epsilon > 0 && epsilon <= 1)) throw new RangeError(`epsilon must be in (0, 1], got ${epsilon}`);
}

/** An index in [0, n) from one uniform draw. */
function pick(random: UniformRandom, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

export interface EpsilonGreedyOptions<A extends string> {
  /** Every action the policy can take, each once. */
  actions: readonly A[];
  /** The action the model would take without exploration; one of `actions`. */
  greedy: A;
  /** Share of decisions drawn uniformly from all actions, in (0, 1]. */
  epsilon: number;
  /** Logged as `policy`; default `epsilon-greedy(<epsilon>)`. */
  policy?: string;
  random?: UniformRandom;
}

/**
 * One decision: with probability 1 − ε the greedy action, otherwise an action drawn
 * uniformly from all K. Propensity of the result: (1 − ε) + ε/K for the greedy action, ε/K
 * for any other.
 */
export function epsilonGreedy<A extends string>(options: EpsilonGreedyOptions<A>): LoggedChoice<A> {
  const { actions, greedy, epsilon } = options;
  checkEpsilon(epsilon);
  if (new Set(actions).size !== actions.length) throw new RangeError('actions must not repeat');
  if (!actions.includes(greedy)) throw new RangeError(`the greedy action ${greedy} is not one of the actions`);
  const random = options.random ?? Math.random;
  const explore = random() < epsilon;
  const action = explore ? actions[pick(random, actions.length)]! : greedy;
  const uniform = epsilon / actions.length;
  return {
    action,
    propensity: action === greedy ? 1 - epsilon + uniform : uniform,
    policy: options.policy ?? `epsilon-greedy(${epsilon})`,
    is_exploration: explore,
  };
}

export interface RankingOptions {
  /** Candidate item ids, best first: the greedy ranking. */
  ranked: readonly string[];
  /** Positions to fill (1 ≤ k ≤ number of candidates). */
  k: number;
  epsilon: number;
  /** Logged as `policy`; default `epsilon-greedy-top-<k>(<epsilon>)`. */
  policy?: string;
  random?: UniformRandom;
}

/** One shown item: log one prediction per item, with its `item_id` and `position`. */
export interface ShownItem extends LoggedChoice {
  item_id: string;
  /** 0-based position in the shown list. */
  position: number;
}

/**
 * A top-k list: with probability 1 − ε the greedy top k, otherwise k distinct candidates in
 * a uniformly random order. Each shown item's propensity is the probability of that item at
 * that position: a uniformly random ordered k-subset of n candidates puts any given item at
 * any given position with probability 1/n, so it is (1 − ε) + ε/n where the greedy list has
 * that item there, and ε/n elsewhere.
 */
export function epsilonGreedyRanking(options: RankingOptions): ShownItem[] {
  const { ranked, k, epsilon } = options;
  checkEpsilon(epsilon);
  const n = ranked.length;
  if (new Set(ranked).size !== n) throw new RangeError('ranked items must not repeat');
  if (!(Number.isInteger(k) && k >= 1 && k <= n)) throw new RangeError(`k must be an integer in [1, ${n}], got ${k}`);
  const random = options.random ?? Math.random;
  const explore = random() < epsilon;
  let shown = ranked.slice(0, k);
  if (explore) {
    // A partial Fisher–Yates shuffle: the first k entries are a uniform ordered k-subset.
    const pool = [...ranked];
    for (let i = 0; i < k; i += 1) {
      const j = i + pick(random, n - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    shown = pool.slice(0, k);
  }
  const policy = options.policy ?? `epsilon-greedy-top-${k}(${epsilon})`;
  return shown.map((item, position) => ({
    item_id: item,
    position,
    action: item,
    propensity: (ranked[position] === item ? 1 - epsilon : 0) + epsilon / n,
    policy,
    is_exploration: explore,
  }));
}

export interface RandomizedBandOptions<Approve extends string, Deny extends string> {
  /** The model's score; with `approve_below` the cut-off rule approves below it. */
  score: number;
  /** Below `band.low` the policy always approves, at or above `band.high` it always denies. */
  band: { low: number; high: number };
  /** Probability of approval for a score in [low, high), in (0, 1). */
  approve_probability: number;
  /** Action names; default 'approve' and 'deny'. */
  actions?: { approve: Approve; deny: Deny };
  /** Logged as `policy`; default `randomized-band[<low>,<high>)@<p>`. */
  policy?: string;
  random?: UniformRandom;
}

/**
 * An approve/deny decision with exploration only inside safe score limits: scores (for
 * example a probability of default) below `band.low` are approved and from `band.high` on
 * denied, as the plain cut-off would; inside the band the decision is a coin with
 * `approve_probability`. Outside the band the propensity is 1 (and outcomes of the other
 * decision can never be observed there); inside it is p for an approval and 1 − p for a
 * denial, and the decision counts as exploration.
 */
export function randomizedBand<Approve extends string = 'approve', Deny extends string = 'deny'>(
  options: RandomizedBandOptions<Approve, Deny>,
): LoggedChoice<Approve | Deny> {
  const { score, band, approve_probability: p } = options;
  if (!(band.low < band.high)) throw new RangeError(`band.low must be below band.high, got [${band.low}, ${band.high})`);
  if (!(p > 0 && p < 1)) throw new RangeError(`approve_probability must be in (0, 1), got ${p}`);
  if (!Number.isFinite(score)) throw new RangeError(`score must be a finite number, got ${score}`);
  const actions = options.actions ?? ({ approve: 'approve', deny: 'deny' } as { approve: Approve; deny: Deny });
  const policy = options.policy ?? `randomized-band[${band.low},${band.high})@${p}`;
  if (score < band.low) return { action: actions.approve, propensity: 1, policy, is_exploration: false };
  if (score >= band.high) return { action: actions.deny, propensity: 1, policy, is_exploration: false };
  const random = options.random ?? Math.random;
  const approve = random() < p;
  return { action: approve ? actions.approve : actions.deny, propensity: approve ? p : 1 - p, policy, is_exploration: true };
}
