import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  SLATE_ESTIMATORS,
  estimateSlates,
  type LoggedSlates,
  type SlatePropensity,
  type SlateReward,
} from '../../../stats/off-policy-slate';

interface Case {
  name: string;
  slate: number[];
  propensity: number[];
  target: number[];
  reward: number[];
  propensity_kind: SlatePropensity;
  slate_reward: SlateReward;
  alpha: number;
  bootstrap_indices: number[][];
  expected: {
    estimators: Record<string, { value: number | null; ci_low: number | null; ci_high: number | null }>;
    n_slates: number;
    n_rows: number;
    effective_sample_size: number;
    max_weight: number;
    logged_policy_value: number;
    reward_range: [number, number];
  };
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'off-policy', 'slate.json'), 'utf8')) as {
  cases: Case[];
};

function slatesOf(c: Case): LoggedSlates {
  const start = [0];
  for (let i = 1; i < c.slate.length; i += 1) if (c.slate[i] !== c.slate[i - 1]) start.push(i);
  start.push(c.slate.length);
  return {
    start: Int32Array.from(start),
    propensity: Float64Array.from(c.propensity),
    target: Float64Array.from(c.target),
    reward: Float64Array.from(c.reward),
  };
}

function replay(indices: number[][]): () => number {
  const flat = indices.flat();
  let next = 0;
  return () => flat[next++]!;
}

const close = (got: number | null, expected: number | null, what: string) => {
  if (expected === null) expect(got, what).toBeNull();
  else expect(Math.abs(got! - expected), `${what}: ${got} vs ${expected}`).toBeLessThan(1e-9);
};

describe('estimateSlates equals the Open Bandit Pipeline slate formulas (NumPy reference)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: SIPS, IIPS, RIPS, their slate bootstrap intervals, ESS, max weight and the logged value to 1e-9',
    (_name, c) => {
      const result = estimateSlates(
        slatesOf(c),
        { propensity: c.propensity_kind, reward: c.slate_reward },
        { resamples: c.bootstrap_indices.length, alpha: c.alpha, nextIndex: replay(c.bootstrap_indices) },
      );
      expect([result.n_slates, result.n_rows]).toEqual([c.expected.n_slates, c.expected.n_rows]);
      for (const name of SLATE_ESTIMATORS)
        for (const key of ['value', 'ci_low', 'ci_high'] as const)
          close(result.estimators[name][key], c.expected.estimators[name]![key], `${name}.${key}`);
      close(result.effective_sample_size, c.expected.effective_sample_size, 'effective_sample_size');
      close(result.max_weight, c.expected.max_weight, 'max_weight');
      close(result.logged_policy_value, c.expected.logged_policy_value, 'logged_policy_value');
      expect(result.reward_range).toEqual({ min: c.expected.reward_range[0], max: c.expected.reward_range[1] });
    },
  );

  it('any-click credits only the first rewarded position of a slate, so it differs from the sum on slates with two clicks', () => {
    const [sum, any] = fixture.cases;
    expect(any!.slate_reward).toBe('any');
    expect(any!.expected.estimators.iips!.value).toBeLessThan(sum!.expected.estimators.iips!.value!);
    expect(any!.expected.reward_range[1]).toBe(1);
  });

  it('is null everywhere without slates', () => {
    const none = estimateSlates(
      { start: Int32Array.of(0), propensity: new Float64Array(0), target: new Float64Array(0), reward: new Float64Array(0) },
      { propensity: 'position', reward: 'sum' },
      { resamples: 5, alpha: 0.05, nextIndex: () => 0 },
    );
    expect(none.estimators.sips).toEqual({ value: null, ci_low: null, ci_high: null });
    expect([none.n_slates, none.effective_sample_size, none.max_weight, none.reward_range]).toEqual([0, null, null, null]);
  });
});
