import { describe, expect, it } from 'vitest';
import { chooseThreshold, thresholdPoint } from '../../../stats/threshold-search';

// Worked by hand, highest threshold first (P = 4 positives among 8):
//   t     0.9   0.8   0.7   0.6   0.4   0.3   0.2
//   tp/fp 1/0   2/1   3/1   3/2   4/2   4/3   4/4
//   prec  1     2/3   3/4   3/5   2/3   4/7   1/2
//   rec   1/4   1/2   3/4   3/4   1     1     1
const scores = [0.3, 0.9, 0.8, 0.2, 0.8, 0.7, 0.6, 0.4];
const labels = [0, 1, 1, 0, 0, 1, 0, 1];

describe('chooseThreshold', () => {
  it('target precision: the lowest threshold whose precision reaches it, though precision is not monotone', () => {
    expect(chooseThreshold(scores, labels, { kind: 'target_precision', target: 0.75 })).toBe(0.7);
    expect(chooseThreshold(scores, labels, { kind: 'target_precision', target: 0.6 })).toBe(0.4);
    expect(chooseThreshold(scores, labels, { kind: 'target_precision', target: 1 })).toBe(0.9);
  });

  it('target recall: the highest threshold whose recall reaches it', () => {
    expect(chooseThreshold(scores, labels, { kind: 'target_recall', target: 0.5 })).toBe(0.8);
    expect(chooseThreshold(scores, labels, { kind: 'target_recall', target: 0.75 })).toBe(0.7);
    expect(chooseThreshold(scores, labels, { kind: 'target_recall', target: 1 })).toBe(0.4);
  });

  it('minimum cost: the least fp·cost_fp + fn·cost_fn, a tie going to the higher threshold', () => {
    // fp = fn = 1: cost 2 at 0.7 and at 0.4.
    expect(chooseThreshold(scores, labels, { kind: 'min_cost', costs: { fp: 1, fn: 1 } })).toBe(0.7);
    // Misses cost 20: flag down to 0.4 (cost 2).
    expect(chooseThreshold(scores, labels, { kind: 'min_cost', costs: { fp: 1, fn: 20 } })).toBe(0.4);
    // False alarms cost 100: only the top score (cost 3).
    expect(chooseThreshold(scores, labels, { kind: 'min_cost', costs: { fp: 100, fn: 1 } })).toBe(0.9);
  });

  it('minimum cost may flag nothing: the float just above the highest score', () => {
    const threshold = chooseThreshold(scores, labels, { kind: 'min_cost', costs: { fp: 1, fn: 0 } });
    expect(threshold).toBeGreaterThan(0.9);
    expect(threshold - 0.9).toBe(2 ** -53);
  });

  it('refuses a target no threshold reaches, and rows without a positive', () => {
    expect(() => chooseThreshold([0.9, 0.5], [0, 1], { kind: 'target_precision', target: 0.6 })).toThrow(
      /no threshold reaches precision 0.6/,
    );
    expect(() => chooseThreshold([0.9, 0.5], [0, 0], { kind: 'target_recall', target: 0.5 })).toThrow(/at least one positive/);
  });
});

describe('thresholdPoint', () => {
  it('counts score ≥ threshold as flagged, with the cost per labeled prediction', () => {
    expect(thresholdPoint(scores, labels, 0.7, { fp: 1, fn: 20 })).toEqual({
      threshold: 0.7,
      n: 8,
      tp: 3,
      fp: 1,
      fn: 1,
      tn: 3,
      precision: 0.75,
      recall: 0.75,
      total_cost: 21,
      expected_cost: 21 / 8,
    });
    expect(thresholdPoint(scores, labels, 0.95, null)).toMatchObject({
      tp: 0,
      fp: 0,
      precision: null,
      recall: 0,
      total_cost: null,
      expected_cost: null,
    });
  });
});
