import { describe, expect, it } from 'vitest';
import { epsilonGreedy } from '../../../client/exploration';
import { estimateOffPolicy, type LoggedRounds } from '../../../stats/off-policy';
import { mulberry32 } from '../../../stats/seeded-random';

/**
 * A recommendations log: USER_TYPES kinds of visitor arrive uniformly; each is shown one of
 * ITEMS by epsilon-greedy (5% exploration) over the production model's favourite, and clicks
 * with that (visitor, item)'s true CTR. The target policy, a different deterministic one,
 * recommends another item; its true CTR is known exactly from the simulation: the mean over
 * visitor kinds of the CTR of the item it picks. The estimators see only the log.
 */
const USER_TYPES = 20;
const ITEMS = 5;
const ROUNDS = 40_000;
const EPSILON = 0.05;

interface Simulation {
  rounds: LoggedRounds;
  truth: number;
}

function simulate(seed: number): Simulation {
  const random = mulberry32(seed);
  const items = Array.from({ length: ITEMS }, (_, k) => `item-${k}`);
  const ctr = Array.from({ length: USER_TYPES }, () => items.map(() => 0.02 + 0.3 * random()));
  const argmax = (values: number[]) => values.indexOf(Math.max(...values));
  // The production model picks each visitor kind's best item; the target policy, a worse
  // candidate, its fourth best of five.
  const production = ctr.map((row) => argmax(row));
  const candidate = ctr.map((row) => row.indexOf([...row].sort((a, b) => b - a)[3]!));
  const truth = ctr.reduce((sum, row, u) => sum + row[candidate[u]!]!, 0) / USER_TYPES;
  const rounds: LoggedRounds = {
    propensity: new Float64Array(ROUNDS),
    target: new Float64Array(ROUNDS),
    reward: new Float64Array(ROUNDS),
    direct: new Float64Array(ROUNDS),
    modeled: new Float64Array(ROUNDS),
  };
  for (let t = 0; t < ROUNDS; t += 1) {
    const u = Math.floor(random() * USER_TYPES);
    const choice = epsilonGreedy({ actions: items, greedy: items[production[u]!]!, epsilon: EPSILON, random });
    const k = items.indexOf(choice.action);
    rounds.propensity[t] = choice.propensity;
    rounds.target[t] = k === candidate[u] ? 1 : 0;
    rounds.reward[t] = random() < ctr[u]![k]! ? 1 : 0;
  }
  return { rounds, truth };
}

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);
const RESAMPLES = 300;

interface Outcome {
  seed: number;
  truth: number;
  naive: number;
  ipw: [number, number];
  snips: [number, number];
}

function run(seed: number): Outcome {
  const { rounds, truth } = simulate(seed);
  const random = mulberry32(seed + 1_000_000);
  const result = estimateOffPolicy(rounds, null, { resamples: RESAMPLES, alpha: 0.05, nextIndex: () => Math.floor(random() * ROUNDS) });
  const interval = (name: 'ipw' | 'snips'): [number, number] => [result.estimators[name].ci_low!, result.estimators[name].ci_high!];
  return { seed, truth, naive: result.logged_policy_value!, ipw: interval('ipw'), snips: interval('snips') };
}

const covers = ([low, high]: [number, number], value: number) => low <= value && value <= high;

describe('off-policy estimates on a simulated recommendations log with 5% epsilon-greedy exploration', () => {
  const outcomes = SEEDS.map(run);

  it("IPW and SNIPS intervals cover the target policy's true CTR in at least 19 of 20 seeds", () => {
    const ipw = outcomes.filter((o) => covers(o.ipw, o.truth)).map((o) => o.seed);
    const snips = outcomes.filter((o) => covers(o.snips, o.truth)).map((o) => o.seed);
    expect(ipw.length, `IPW covered the truth in seeds ${ipw.join(', ')}`).toBeGreaterThanOrEqual(19);
    expect(snips.length, `SNIPS covered the truth in seeds ${snips.join(', ')}`).toBeGreaterThanOrEqual(19);
  });

  it("while the naive logged CTR, the production policy's own, lies outside both intervals in every seed", () => {
    for (const o of outcomes) {
      expect(
        covers(o.ipw, o.naive) || covers(o.snips, o.naive),
        `seed ${o.seed}: logged CTR ${o.naive} vs IPW [${o.ipw}] SNIPS [${o.snips}]`,
      ).toBe(false);
      // The log is not only different but biased for the target: it overstates its CTR.
      expect(o.naive).toBeGreaterThan(o.truth);
    }
  });
});
