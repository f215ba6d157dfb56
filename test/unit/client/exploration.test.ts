import { describe, expect, it } from 'vitest';
import { epsilonGreedy, epsilonGreedyRanking, randomizedBand } from '../../../client/exploration';
import { mulberry32 } from '../../../stats/seeded-random';

const DRAWS = 200_000;

/** Empirical frequency of each key over DRAWS draws. */
function frequencies(draw: () => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < DRAWS; i += 1) {
    const key = draw();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts].map(([key, count]) => [key, count / DRAWS]));
}

/** Within 5 binomial standard errors of p. */
function expectNear(frequency: number | undefined, p: number, label: string): void {
  expect(Math.abs((frequency ?? 0) - p), `${label}: ${frequency} vs ${p}`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / DRAWS) + 1e-12);
}

describe('epsilonGreedy', () => {
  const actions = ['a', 'b', 'c', 'd'] as const;

  it('logs (1 − ε) + ε/K for the greedy action and ε/K for the others, exactly', () => {
    const random = mulberry32(1);
    const seen = new Map<string, number>();
    for (let i = 0; i < 2000; i += 1) {
      const choice = epsilonGreedy({ actions, greedy: 'b', epsilon: 0.2, random });
      seen.set(choice.action, choice.propensity);
      expect(choice.policy).toBe('epsilon-greedy(0.2)');
    }
    expect(Object.fromEntries(seen)).toEqual({ a: 0.05, b: 0.8 + 0.05, c: 0.05, d: 0.05 });
  });

  it('chooses each action with its logged propensity over many draws, and explores an ε share', () => {
    const random = mulberry32(2);
    let explored = 0;
    const propensity = new Map<string, number>();
    const freq = frequencies(() => {
      const choice = epsilonGreedy({ actions, greedy: 'c', epsilon: 0.1, random });
      if (choice.is_exploration) explored += 1;
      propensity.set(choice.action, choice.propensity);
      return choice.action;
    });
    for (const action of actions) expectNear(freq.get(action), propensity.get(action)!, action);
    expectNear(explored / DRAWS, 0.1, 'exploration share');
  });

  it('refuses an ε outside (0, 1] and a greedy action that is not an action', () => {
    expect(() => epsilonGreedy({ actions, greedy: 'a', epsilon: 0 })).toThrow(/epsilon/);
    expect(() => epsilonGreedy({ actions, greedy: 'z' as 'a', epsilon: 0.1 })).toThrow(/greedy/);
  });
});

describe('epsilonGreedyRanking', () => {
  const ranked = ['i0', 'i1', 'i2', 'i3', 'i4'];

  it('logs (1 − ε) + ε/n for the greedy item at its position and ε/n for any other, exactly', () => {
    const random = mulberry32(3);
    for (let i = 0; i < 2000; i += 1) {
      const shown = epsilonGreedyRanking({ ranked, k: 3, epsilon: 0.3, random });
      expect(shown.map((item) => item.position)).toEqual([0, 1, 2]);
      expect(new Set(shown.map((item) => item.item_id)).size).toBe(3);
      for (const item of shown) {
        expect(item.propensity).toBe(ranked[item.position] === item.item_id ? 0.7 + 0.3 / 5 : 0.3 / 5);
        expect(item.action).toBe(item.item_id);
        expect(item.policy).toBe('epsilon-greedy-top-3(0.3)');
      }
    }
  });

  it('shows each item at each position with its logged propensity over many draws', () => {
    const random = mulberry32(4);
    const propensity = new Map<string, number>();
    const counts = new Map<string, number>();
    for (let i = 0; i < DRAWS; i += 1) {
      for (const item of epsilonGreedyRanking({ ranked, k: 2, epsilon: 0.25, random })) {
        const key = `${item.item_id}@${item.position}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        propensity.set(key, item.propensity);
      }
    }
    for (const item of ranked) {
      for (const position of [0, 1]) {
        const key = `${item}@${position}`;
        const expected = (ranked[position] === item ? 0.75 : 0) + 0.25 / 5;
        expect(propensity.get(key)).toBe(expected);
        expectNear((counts.get(key) ?? 0) / DRAWS, expected, key);
      }
    }
  });

  it('refuses k outside [1, n]', () => {
    expect(() => epsilonGreedyRanking({ ranked, k: 6, epsilon: 0.1 })).toThrow(/k must be/);
  });
});

describe('randomizedBand', () => {
  const band = { low: 0.2, high: 0.4 };

  it('approves below the band and denies from its top with propensity 1, no exploration', () => {
    expect(randomizedBand({ score: 0.1, band, approve_probability: 0.3 })).toEqual({
      action: 'approve',
      propensity: 1,
      policy: 'randomized-band[0.2,0.4)@0.3',
      is_exploration: false,
    });
    expect(randomizedBand({ score: 0.4, band, approve_probability: 0.3 })).toEqual({
      action: 'deny',
      propensity: 1,
      policy: 'randomized-band[0.2,0.4)@0.3',
      is_exploration: false,
    });
  });

  it('inside the band approves with probability p, logging p for an approval and 1 − p for a denial', () => {
    const random = mulberry32(5);
    const logged = new Set<string>();
    const freq = frequencies(() => {
      const choice = randomizedBand({ score: 0.2, band, approve_probability: 0.3, actions: { approve: 'lend', deny: 'decline' }, random });
      logged.add(`${choice.action} ${choice.propensity} ${choice.is_exploration}`);
      return choice.action;
    });
    expect([...logged].sort()).toEqual(['decline 0.7 true', 'lend 0.3 true']);
    expectNear(freq.get('lend'), 0.3, 'lend');
    expectNear(freq.get('decline'), 0.7, 'decline');
  });

  it('refuses an empty band and a probability outside (0, 1)', () => {
    expect(() => randomizedBand({ score: 0.3, band: { low: 0.4, high: 0.2 }, approve_probability: 0.5 })).toThrow(/band/);
    expect(() => randomizedBand({ score: 0.3, band, approve_probability: 1 })).toThrow(/approve_probability/);
  });
});
