import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  delongInterval,
  metricIntervals,
  midranks,
  REGRESSION_INTERVAL_METRICS,
  regressionIntervals,
} from '../../../stats/metric-intervals';

type Triple = [number, number, number];
interface IntervalCase {
  name: string;
  scores: number[];
  labels: number[];
  flagged: number[];
  wilson: Record<'base_rate' | 'precision' | 'recall' | 'accuracy', Triple | null>;
  delong: Triple | null;
  point: Record<'pr_auc' | 'f1' | 'brier' | 'log_loss', number>;
  bootstrap: Record<'pr_auc' | 'f1' | 'brier' | 'log_loss', [number, number]>;
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'intervals', 'intervals.json'), 'utf8')) as {
  seed: number;
  resamples: number;
  cases: IntervalCase[];
  regression: Array<{
    name: string;
    scores: number[];
    targets: number[];
    point: Record<string, number>;
    bootstrap: Record<string, [number, number]>;
  }>;
};

describe('metricIntervals', () => {
  it('uses the seed and resample count the fixtures were generated with', () => {
    expect([fixture.seed, fixture.resamples]).toEqual([BOOTSTRAP_SEED, BOOTSTRAP_RESAMPLES]);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    'gives SciPy Wilson, DeLong (NumPy) and the NumPy/scikit-learn stratified bootstrap to 1e-9 on %s',
    (_name, c) => {
      const result = metricIntervals({ scores: c.scores, labels: c.labels, flagged: c.flagged });
      expect(result.undefined_intervals).toEqual({});
      const near = (actual: number | null, expected: number, what: string) =>
        expect(Math.abs(actual! - expected), `${what}: ${actual} vs ${expected}`).toBeLessThan(1e-9);
      for (const metric of ['base_rate', 'precision', 'recall', 'accuracy'] as const) {
        const [value, low, high] = c.wilson[metric]!;
        expect(result.metrics[metric].method).toBe('wilson');
        near(result.metrics[metric].value, value, `${metric} value`);
        near(result.metrics[metric].low, low, `${metric} low`);
        near(result.metrics[metric].high, high, `${metric} high`);
      }
      const [auc, low, high] = c.delong!;
      expect(result.metrics.roc_auc.method).toBe('delong');
      near(result.metrics.roc_auc.value, auc, 'roc_auc');
      near(result.metrics.roc_auc.low, low, 'roc_auc low');
      near(result.metrics.roc_auc.high, high, 'roc_auc high');
      for (const metric of ['pr_auc', 'f1', 'brier', 'log_loss'] as const) {
        expect(result.metrics[metric].method).toBe('bootstrap');
        near(result.metrics[metric].value, c.point[metric], `${metric} value`);
        near(result.metrics[metric].low, c.bootstrap[metric][0], `${metric} low`);
        near(result.metrics[metric].high, c.bootstrap[metric][1], `${metric} high`);
      }
    },
  );

  it('gives null intervals with reasons where a metric is undefined', () => {
    const result = metricIntervals({ scores: [0.2, 0.3, 0.4], labels: [0, 0, 1], flagged: [0, 0, 0] });
    expect(result.metrics.precision).toEqual({ value: null, low: null, high: null, method: 'wilson' });
    expect(result.undefined_intervals).toMatchObject({
      precision: 'no prediction at or above the threshold',
      roc_auc: 'needs at least two positive and two negative labels',
    });
    expect(metricIntervals({ scores: [], labels: [], flagged: [] }).undefined_intervals).toMatchObject({
      base_rate: 'no labeled predictions',
      brier: 'no labeled predictions',
    });
  });
});

describe('metricIntervals at the edges', () => {
  it('closes a Wilson interval exactly at 0 for no successes and at 1 for all, so it holds its value', () => {
    // 0 of 3 and 10 of 10: the formula alone gives 5.6e-17 and 0.9999999999999999
    const none = metricIntervals({ scores: [0.1, 0.2, 0.7], labels: [0, 0, 0], flagged: [0, 0, 1] });
    expect(none.metrics.base_rate).toMatchObject({ value: 0, low: 0 });
    expect(none.metrics.precision).toMatchObject({ value: 0, low: 0 });
    const ten = Array.from({ length: 10 }, (_, i) => 0.5 + i / 100);
    const all = metricIntervals({ scores: ten, labels: ten.map(() => 1), flagged: ten.map(() => 1) });
    for (const metric of ['base_rate', 'precision', 'recall', 'accuracy'] as const) {
      expect(all.metrics[metric]).toMatchObject({ value: 1, high: 1 });
    }
  });

  it("gives the metric's own reason when it is undefined on the group's rows", () => {
    const result = metricIntervals({ scores: [0.1, 0.2, 0.3], labels: [0, 0, 0], flagged: [0, 0, 0] });
    expect(result.undefined_intervals).toMatchObject({
      pr_auc: 'no positive labels',
      f1: 'no positive labels and no positive decisions',
    });
  });
});

describe('delongInterval and midranks', () => {
  it('averages tied ranks as scipy.stats.rankdata does', () => {
    expect(Array.from(midranks([0.3, 0.1, 0.3, 0.2]))).toEqual([3.5, 1, 3.5, 2]);
  });

  it('is 1 with a zero-width interval for perfectly separated scores', () => {
    expect(delongInterval([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])).toEqual({ auc: 1, low: 1, high: 1 });
  });
});

describe('regressionIntervals', () => {
  it.each(fixture.regression.map((c) => [c.name, c] as const))(
    'gives the NumPy/scikit-learn bootstrap of MAE, RMSE, bias and R² to 1e-9 on %s',
    (_name, c) => {
      const result = regressionIntervals(c.scores, c.targets);
      expect(result.undefined_intervals).toEqual({});
      for (const metric of REGRESSION_INTERVAL_METRICS) {
        const interval = result.metrics[metric];
        expect(interval.method).toBe('bootstrap');
        expect(Math.abs(interval.value! - c.point[metric]!), `${metric} value`).toBeLessThan(1e-9);
        expect(Math.abs(interval.low! - c.bootstrap[metric]![0]), `${metric} low`).toBeLessThan(1e-9);
        expect(Math.abs(interval.high! - c.bootstrap[metric]![1]), `${metric} high`).toBeLessThan(1e-9);
      }
    },
  );

  it('leaves R² null with its reason for a constant target, and every interval for no rows', () => {
    expect(regressionIntervals([1, 2, 3], [5, 5, 5]).undefined_intervals).toEqual({ r2: 'the target is constant, so r2 is undefined' });
    expect(regressionIntervals([], []).metrics.mae).toEqual({ value: null, low: null, high: null, method: 'bootstrap' });
  });
});
