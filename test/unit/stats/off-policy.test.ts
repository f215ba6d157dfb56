import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ESTIMATORS, estimateOffPolicy, percentileOfSorted, reliabilityWarnings, type LoggedRounds } from '../../../stats/off-policy';

interface Case {
  name: string;
  action: number[];
  propensity: number[];
  reward: number[];
  action_dist: number[][];
  q_hat: number[][];
  clip: number | null;
  alpha: number;
  bootstrap_indices: number[][];
  expected: {
    estimators: Record<string, { value: number; ci_low: number; ci_high: number }>;
    n: number;
    effective_sample_size: number;
    max_weight: number;
    logged_policy_value: number;
  };
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'off-policy', 'off-policy.json'), 'utf8')) as {
  cases: Case[];
};

/** The rounds as the SQL hands them over: π_e and q̂ of the logged action, Σ_a π_e q̂. */
function roundsOf(c: Case): LoggedRounds {
  const n = c.action.length;
  const of = (f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));
  return {
    propensity: Float64Array.from(c.propensity),
    target: of((i) => c.action_dist[i]![c.action[i]!]!),
    reward: Float64Array.from(c.reward),
    direct: of((i) => c.action_dist[i]!.reduce((sum, p, a) => sum + p * c.q_hat[i]![a]!, 0)),
    modeled: of((i) => c.q_hat[i]![c.action[i]!]!),
  };
}

/** Replays the generator's resample indices in order, one per draw. */
function replay(indices: number[][]): () => number {
  const flat = indices.flat();
  let next = 0;
  return () => flat[next++]!;
}

describe('estimateOffPolicy equals the Open Bandit Pipeline formulas (NumPy reference)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: IPW, SNIPS, DM, DR, their bootstrap intervals, ESS, the largest weight and the logged value to 1e-12',
    (_name, c) => {
      const result = estimateOffPolicy(roundsOf(c), c.clip, {
        resamples: c.bootstrap_indices.length,
        alpha: c.alpha,
        nextIndex: replay(c.bootstrap_indices),
      });
      expect(result.n).toBe(c.expected.n);
      for (const name of ESTIMATORS) {
        const expected = c.expected.estimators[name]!;
        const got = result.estimators[name];
        for (const key of ['value', 'ci_low', 'ci_high'] as const) {
          expect(Math.abs(got[key]! - expected[key]), `${name}.${key}: ${got[key]} vs ${expected[key]}`).toBeLessThan(1e-12);
        }
      }
      expect(Math.abs(result.effective_sample_size! - c.expected.effective_sample_size)).toBeLessThan(1e-12);
      expect(Math.abs(result.logged_policy_value! - c.expected.logged_policy_value)).toBeLessThan(1e-12);
      expect(Math.abs(result.max_weight! - c.expected.max_weight)).toBeLessThan(1e-12);
    },
  );

  it('clips IPW and DR (as OBP clips both): the clipped case changes them and leaves SNIPS and DM as they are', () => {
    const [plain, clipped] = fixture.cases;
    expect(clipped!.clip).not.toBeNull();
    for (const name of ['ipw', 'dr']) expect(clipped!.expected.estimators[name]!.value).not.toBe(plain!.expected.estimators[name]!.value);
    for (const name of ['snips', 'dm']) expect(clipped!.expected.estimators[name]).toEqual(plain!.expected.estimators[name]);
  });

  it('is null everywhere on no rounds, and SNIPS is null when no round has weight', () => {
    const empty = new Float64Array(0);
    const none = estimateOffPolicy({ propensity: empty, target: empty, reward: empty, direct: empty, modeled: empty }, null, {
      resamples: 10,
      alpha: 0.05,
      nextIndex: () => 0,
    });
    expect(none).toEqual({
      estimators: Object.fromEntries(ESTIMATORS.map((name) => [name, { value: null, ci_low: null, ci_high: null }])),
      n: 0,
      effective_sample_size: null,
      max_weight: null,
      logged_policy_value: null,
    });
    const one = Float64Array.of(1);
    const unsupported = estimateOffPolicy(
      { propensity: one, target: Float64Array.of(0), reward: one, direct: Float64Array.of(0.4), modeled: Float64Array.of(0.5) },
      null,
      { resamples: 5, alpha: 0.05, nextIndex: () => 0 },
    );
    expect(unsupported.estimators.snips).toEqual({ value: null, ci_low: null, ci_high: null });
    expect(unsupported.estimators.ipw).toEqual({ value: 0, ci_low: 0, ci_high: 0 });
    expect(unsupported.effective_sample_size).toBe(0);
  });
});

describe('percentileOfSorted', () => {
  it('is numpy.percentile with linear interpolation', () => {
    // numpy.percentile([1, 2, 4, 8], [0, 2.5, 50, 97.5, 100]) = [1, 1.075, 3, 7.7, 8]
    const values = Float64Array.of(1, 2, 4, 8);
    expect([0, 2.5, 50, 97.5, 100].map((q) => percentileOfSorted(values, q))).toEqual([1, 1.075, 3, 7.699999999999999, 8]);
  });
});

describe('reliability warnings', () => {
  const estimate = (value: number | null) => ({ value, ci_low: value, ci_high: value });
  const inRange = { ipw: estimate(0.4), snips: estimate(0), dm: estimate(1), dr: estimate(null) };
  const facts = { n: 20_000, effective_sample_size: 250, reward_range: { min: 0, max: 1 }, unlogged: null };

  it('says nothing of an estimate that rests on enough rounds and stays within the logged rewards, bounds included', () => {
    expect(reliabilityWarnings(facts, inRange)).toEqual([]);
    expect(reliabilityWarnings({ ...facts, unlogged: { rounds: 0, actions: [], mean_weight: 0 } }, inRange)).toEqual([]);
  });

  it('warns below 1% of n even above 100 rounds, and names each estimate outside [min, max]', () => {
    expect(reliabilityWarnings({ ...facts, effective_sample_size: 150 }, inRange)).toEqual([
      "the effective sample size is 150 of 20000 rounds, under 1% of them: the target policy's weights rest the IPW, SNIPS and DR " +
        'estimates on a few rounds, so their intervals understate the error',
    ]);
    expect(reliabilityWarnings(facts, { ...inRange, ipw: estimate(1.25), snips: estimate(-0.5) })).toEqual([
      'ipw 1.25 lies outside [0, 1], the range of the logged rewards: no policy can earn that, the weights made it',
      'snips -0.5 lies outside [0, 1], the range of the logged rewards: no policy can earn that, the weights made it',
    ]);
  });
});
