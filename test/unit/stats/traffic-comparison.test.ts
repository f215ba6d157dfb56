import { describe, expect, it } from 'vitest';
import {
  compareTraffic,
  hanleyMcNeilInterval,
  meanInterval,
  selectionBiasWarning,
  wilsonInterval,
} from '../../../stats/traffic-comparison';
import { emptyBinarySums, finishBinaryMetrics } from '../../../stats/finish-metrics';

const close = (a: number | null, b: number) => Math.abs(a! - b) < 1e-12;

describe('the intervals of the exploration-vs-policy comparison', () => {
  it("wilsonInterval equals scipy.stats.binomtest(k, n).proportion_ci(method='wilson')", () => {
    // scipy 1.10.1: (10, 100) → 0.05522913706067508, 0.17436566150491345; (0, 7) → 0, 0.35433043506668743
    const ten = wilsonInterval(10, 100);
    expect(ten.value).toBe(0.1);
    expect(close(ten.ci_low, 0.05522913706067508) && close(ten.ci_high, 0.17436566150491345)).toBe(true);
    const none = wilsonInterval(0, 7);
    expect(close(none.ci_low, 0) && close(none.ci_high, 0.35433043506668743)).toBe(true);
    expect(wilsonInterval(0, 0)).toEqual({ value: null, ci_low: null, ci_high: null });
  });

  it("hanleyMcNeilInterval is AUC ± z·SE with Hanley and McNeil's SE", () => {
    // A = 0.8, 30 positives, 70 negatives: Q1 = A/(2−A), Q2 = 2A²/(1+A),
    // SE² = (A(1−A) + 29(Q1−A²) + 69(Q2−A²)) / 2100 → 0.6966418167064656, 0.9033581832935345
    const interval = hanleyMcNeilInterval(0.8, 30, 70);
    expect(close(interval.ci_low, 0.6966418167064656) && close(interval.ci_high, 0.9033581832935345)).toBe(true);
    expect(hanleyMcNeilInterval(null, 3, 4).value).toBeNull();
    expect(hanleyMcNeilInterval(1, 5, 5)).toEqual({ value: 1, ci_low: 1, ci_high: 1 });
  });

  it('meanInterval uses the population variance from the mean of squares', () => {
    // values 1, 3: mean 2, mean of squares 5, variance 1, half-width z·√(1/2)
    const interval = meanInterval(2, 5, 2);
    expect(close(interval.ci_high, 2 + 1.959963984540054 * Math.sqrt(0.5))).toBe(true);
  });
});

describe('compareTraffic and selectionBiasWarning', () => {
  const metrics = (n: number, positives: number) =>
    finishBinaryMetrics(
      { ...emptyBinarySums(), n, n_labeled: n, n_positive: positives, score_sum: n / 2 },
      { threshold_grid: [], costs: null },
    );

  it('flags a metric whose intervals do not overlap, and only then warns', () => {
    const same = compareTraffic(metrics(400, 40), metrics(1000, 110));
    expect(same.map((c) => [c.metric, c.differs])).toEqual([
      ['base_rate', false],
      ['roc_auc', false],
    ]);
    expect(selectionBiasWarning(same)).toBeNull();
    const apart = compareTraffic(metrics(400, 40), metrics(1000, 300));
    expect(apart[0]).toMatchObject({ metric: 'base_rate', differs: true });
    expect(selectionBiasWarning(apart)).toMatch(
      /^selection bias: exploration and policy traffic differ beyond their 95% intervals on base_rate \(exploration 0\.1000 \[/,
    );
  });
});
