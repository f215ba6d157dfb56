import { describe, expect, it } from 'vitest';
import { verdictOf, type Check } from '../../../activities/diagnose/checks';
import { comparableSlicesCheck } from '../../../activities/diagnose/model-checks';
import type { GroupCounts, SideFacts } from '../../../activities/diagnose/facts';
import { isMaterialDrop, proportionDifference, wilsonInterval } from '../../../activities/diagnose/intervals';
import { hanleyMcNeilSe as hanleyMcNeilStandardError } from '../../../stats/statistics';

describe('intervals', () => {
  it('gives Wilson score intervals as Newcombe (1998) tabulates them', () => {
    // Newcombe, Statistics in Medicine 17:857, table I, method 3
    const cases: Array<[number, number, number, number]> = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [k, n, low, high] of cases) {
      const interval = wilsonInterval(k, n)!;
      expect(interval.low).toBeCloseTo(low, 4);
      expect(interval.high).toBeCloseTo(high, 4);
    }
    expect(wilsonInterval(0, 0)).toBeNull();
  });

  it('gives the hybrid score interval of a difference of proportions as Newcombe (1998) tabulates it', () => {
    // Newcombe, Statistics in Medicine 17:873, table II, method 10
    const cases: Array<[number, number, number, number, number, number]> = [
      [56, 70, 48, 80, 0.0524, 0.3339],
      [9, 10, 3, 10, 0.1705, 0.809],
      [6, 7, 2, 7, 0.0582, 0.8062],
      [5, 56, 0, 29, -0.0381, 0.1926],
      [0, 10, 0, 20, -0.1611, 0.2775],
      [10, 10, 0, 20, 0.6791, 1],
    ];
    for (const [k1, n1, k2, n2, low, high] of cases) {
      const d = proportionDifference(k1, n1, k2, n2)!;
      expect(d.difference).toBeCloseTo(k1 / n1 - k2 / n2, 12);
      expect(d.low).toBeCloseTo(low, 4);
      expect(d.high).toBeCloseTo(high, 4);
    }
  });

  it('calls a drop material only when the whole interval is below zero and the fall is large enough', () => {
    const d = proportionDifference(400, 1000, 500, 1000)!;
    expect(isMaterialDrop(d, 0.05, { relative: true })).toBe(true);
    expect(isMaterialDrop(d, 0.25, { relative: true })).toBe(false);
    expect(isMaterialDrop(proportionDifference(4, 10, 5, 10)!, 0.05, { relative: true })).toBe(false);
  });

  it('gives Hanley and McNeil’s standard error of an AUC', () => {
    // (A(1 − A) + (P − 1)(Q1 − A²) + (N − 1)(Q2 − A²)) / (P N), Q1 = A / (2 − A), Q2 = 2A² / (1 + A)
    const a = 0.8;
    const expected = Math.sqrt((a * (1 - a) + 49 * (a / (2 - a) - a * a) + 49 * ((2 * a * a) / (1 + a) - a * a)) / 2500);
    expect(hanleyMcNeilStandardError(0.8, 50, 50)).toBeCloseTo(expected, 12);
    expect(hanleyMcNeilStandardError(0.8, 50, 50)).toBeCloseTo(0.0445, 4);
  });
});

const counts = (dimension: string, value: string | null, n_positive: number, tp: number): GroupCounts => ({
  dimension,
  value,
  n: 1000,
  n_labeled: 1000,
  n_final: 1000,
  n_positive,
  tp,
  fp: tp,
});
const side = (groups: GroupCounts[]) => ({ groups }) as unknown as SideFacts;

describe('the comparable-slices check', () => {
  it('reweights the cohort’s slice recalls to the baseline’s mix of positives', () => {
    const baseline = side([counts('', '', 400, 210), counts('region', 'eu', 100, 60), counts('region', 'us', 300, 150)]);
    // the cohort has more eu positives, where recall is higher: pooled it rises to 160/300, mix-adjusted it does not
    const current = side([counts('', '', 300, 160), counts('region', 'eu', 200, 110), counts('region', 'us', 100, 50)]);
    const check = comparableSlicesCheck(current, baseline, new Set(), ['region']);
    const recall = (check.evidence.subsets as Array<{ recall: { current: number; baseline: number } }>)[0]!.recall;
    expect(recall.current).toBeCloseTo(0.25 * (110 / 200) + 0.75 * (50 / 100), 12);
    expect(recall.baseline).toBeCloseTo(210 / 400, 12);
  });

  it('leaves out the slices whose labels changed, and has nothing to compare when all did', () => {
    const baseline = side([counts('', '', 400, 200), counts('region', 'eu', 200, 100), counts('region', 'us', 200, 100)]);
    const current = side([counts('', '', 400, 120), counts('region', 'eu', 200, 100), counts('region', 'us', 200, 20)]);
    const kept = comparableSlicesCheck(current, baseline, new Set([JSON.stringify(['region', 'us'])]), ['region']);
    expect(kept.signal).toBeNull();
    expect((kept.evidence.subsets as Array<{ kept: string[]; excluded: string[] }>)[0]).toMatchObject({ kept: ['eu'], excluded: ['us'] });
    const none = comparableSlicesCheck(current, baseline, new Set([JSON.stringify(['region', 'us']), JSON.stringify(['region', 'eu'])]), [
      'region',
    ]);
    expect(none.finding).toMatch(/no comparable subset/);
    expect(comparableSlicesCheck(current, baseline, new Set(), ['region']).signal).toBe('quality');
  });
});

describe('the verdict', () => {
  const check = (signal: Check['signal']): Check => ({ name: 'x', signal, finding: '', evidence: {} });
  it('is both, labeling, quality or none from the checks’ signals', () => {
    expect(verdictOf([check('labeling'), check('quality'), check(null)])).toBe('both');
    expect(verdictOf([check('labeling'), check(null)])).toBe('labeling');
    expect(verdictOf([check(null), check('quality')])).toBe('quality');
    expect(verdictOf([check(null)])).toBe('none');
  });
});
