import { describe, expect, it } from 'vitest';
import {
  benjaminiHochberg,
  hanleyMcNeilSe,
  newcombeDifference,
  normalCdf,
  oneProportionPValue,
  twoProportionPValue,
  wilsonInterval,
  Z95,
} from '../../../stats/statistics';

describe('the statistical gates of alert rules, against published values', () => {
  it('normalCdf matches the standard normal to 1e-7', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(Z95)).toBeCloseTo(0.975, 7);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 7);
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316301, 7);
  });

  it('wilsonInterval gives Newcombe (1998) table I: 81/263 → 0.2553 to 0.3662, 0/10 → 0 to 0.2775', () => {
    const a = wilsonInterval(81, 263);
    expect(a.low).toBeCloseTo(0.2553, 4);
    expect(a.high).toBeCloseTo(0.3662, 4);
    const b = wilsonInterval(0, 10);
    expect(b.low).toBe(0);
    expect(b.high).toBeCloseTo(0.2775, 4);
  });

  it('wilsonInterval is exactly 0 below no successes and exactly 1 above all, for every n up to 2,000', () => {
    for (let n = 1; n <= 2000; n++) {
      expect(wilsonInterval(0, n).low, `0/${n}`).toBe(0);
      expect(wilsonInterval(n, n).high, `${n}/${n}`).toBe(1);
    }
  });

  it('newcombeDifference gives Newcombe (1998b) method 10: 56/70 − 48/80 → 0.0524 to 0.3339', () => {
    const d = newcombeDifference(56, 70, 48, 80);
    expect(d.low).toBeCloseTo(0.0524, 4);
    expect(d.high).toBeCloseTo(0.3339, 4);
  });

  it('the two-proportion test is one-sided in the direction asked', () => {
    // 400/1000 against 500/1000: pooled p = 0.45, se = sqrt(.45·.55·(2/1000)) = 0.022249, z = −4.4947.
    expect(twoProportionPValue(400, 1000, 500, 1000, 'less')).toBeCloseTo(normalCdf(-0.1 / Math.sqrt(0.45 * 0.55 * 0.002)), 12);
    expect(twoProportionPValue(400, 1000, 500, 1000, 'less')).toBeLessThan(1e-5);
    expect(twoProportionPValue(400, 1000, 500, 1000, 'greater')).toBeGreaterThan(0.99999);
    // A one-sample score test: 45/100 against 0.5, z = −0.05 / 0.05 = −1.
    expect(oneProportionPValue(45, 100, 0.5, 'less')).toBeCloseTo(0.15865525393145707, 7);
  });

  it('hanleyMcNeilSe gives the paper example: AUC 0.893 with 51 abnormal and 58 normal → 0.032', () => {
    // By hand: Q1 = 0.80668, Q2 = 0.84252, variance = (0.095551 + 50·0.009232 + 57·0.045071) / 2958
    // = 0.0010569, so SE = 0.03251 (the paper prints it to two figures).
    expect(hanleyMcNeilSe(0.893, 51, 58)).toBeCloseTo(0.03251, 4);
    expect(hanleyMcNeilSe(0.893, 51, 58)).toBeCloseTo(0.032, 2);
  });

  it('benjaminiHochberg rejects every p-value up to the largest p(k) ≤ k·α/m', () => {
    // m = 6, α = 0.05: thresholds 0.0083, 0.0167, 0.025, 0.0333, 0.0417, 0.05. Sorted p: 0.001 ✓,
    // 0.02 ✗, 0.024 ✓ (k = 3 is the largest), 0.04 ✗, 0.3 ✗, 0.9 ✗: the three smallest are discoveries.
    expect(benjaminiHochberg([0.3, 0.024, 0.001, 0.9, 0.02, 0.04], 0.05)).toEqual([false, true, true, false, true, false]);
    expect(benjaminiHochberg([0.2, 0.5], 0.05)).toEqual([false, false]);
    expect(benjaminiHochberg([], 0.05)).toEqual([]);
  });
});
