import { describe, expect, it } from 'vitest';
import {
  emptyBinarySums,
  emptyRegressionSums,
  finishBinaryMetrics,
  finishRegressionMetrics,
  REASONS,
  type BinarySums,
} from '../../../stats/finish-metrics';
import { collectMismatches } from '../../fixtures/metrics/collect-mismatches';
import {
  fixtureCase,
  loadBinaryFixtures,
  loadRegressionFixtures,
  referenceBinarySums,
  referenceRegressionSums,
} from '../../fixtures/metrics/reference-sums';

const fixtures = loadBinaryFixtures();
const options = (costs: { fp: number; fn: number } | null = null) => ({ threshold_grid: fixtures.threshold_grid, costs });

/** Every number anywhere in a document, so "never NaN" can be checked wholesale. */
function numbersIn(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.flatMap(numbersIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(numbersIn);
  return [];
}

describe('finishBinaryMetrics', () => {
  for (const name of ['ties', 'all-positive', 'all-negative', 'nothing-flagged', 'bin-edges', 'definition-threshold', 'random-2000']) {
    it(`equals scikit-learn to 1e-9 on the "${name}" fixture, from sums computed the obvious way`, () => {
      const fixture = fixtureCase(fixtures, name);
      const metrics = finishBinaryMetrics(referenceBinarySums(fixture, fixtures.threshold_grid), options(fixture.costs));
      expect(collectMismatches(metrics, fixture.expected.overall, name, 1e-9)).toEqual([]);
    });
  }

  it('gives an empty cohort null metrics, each with a reason, and no NaN', () => {
    const metrics = finishBinaryMetrics(emptyBinarySums(), options({ fp: 1, fn: 5 }));
    expect(metrics.n).toBe(0);
    expect(metrics.roc_auc).toBeNull();
    expect(metrics.undefined_metrics.label_availability).toBe(REASONS.emptyCohort);
    for (const name of [
      'base_rate',
      'mean_score',
      'roc_auc',
      'pr_auc',
      'brier',
      'log_loss',
      'ece',
      'ks',
      'precision',
      'recall',
      'f1',
      'total_cost',
      'expected_cost',
    ]) {
      expect(metrics[name as keyof typeof metrics], name).toBeNull();
      expect(metrics.undefined_metrics[name], name).toBe(REASONS.noLabels);
    }
    expect(metrics.calibration).toEqual({ uniform: [], quantile: [] });
    expect(metrics.threshold_curve).toEqual([]);
    expect(numbersIn(metrics).every(Number.isFinite)).toBe(true);
  });

  it('says why roc_auc and ks are missing when only one class is labeled', () => {
    const sums: BinarySums = {
      ...emptyBinarySums(),
      n: 3,
      n_labeled: 3,
      n_final: 3,
      n_positive: 0,
      score_sum: 1.2,
      brier_sum: 0.5,
      log_loss_sum: 1.1,
      auc_twice: 0,
      ap_sum: 0,
    };
    const metrics = finishBinaryMetrics(sums, options());
    expect(metrics.undefined_metrics).toMatchObject({
      roc_auc: REASONS.noPositives,
      ks: REASONS.noPositives,
      pr_auc: REASONS.noPositives,
      recall: REASONS.noPositives,
    });
    expect(numbersIn(metrics).every(Number.isFinite)).toBe(true);
  });

  it('leaves the business metric null with a reason when the definition has no costs, and counts value caught and missed anyway', () => {
    const fixture = fixtureCase(fixtures, 'random-2000');
    const metrics = finishBinaryMetrics(referenceBinarySums(fixture, fixtures.threshold_grid), options(null));
    expect(metrics.total_cost).toBeNull();
    expect(metrics.undefined_metrics.expected_cost).toBe(REASONS.noCosts);
    expect(metrics.threshold_curve.every((point) => point.expected_cost === null)).toBe(true);
    expect(metrics.value_caught).toBeCloseTo(fixture.expected.overall.value_caught as number, 6);
  });
});

describe('finishRegressionMetrics', () => {
  for (const fixture of loadRegressionFixtures().cases) {
    it(`equals scikit-learn to 1e-9 on the "${fixture.name}" regression fixture`, () => {
      const metrics = finishRegressionMetrics(referenceRegressionSums(fixture));
      expect(collectMismatches(metrics, fixture.expected.overall, fixture.name, 1e-9)).toEqual([]);
    });
  }

  it('calls r2 undefined for a constant target even when the variance came out a hair above zero', () => {
    const sums = referenceRegressionSums(loadRegressionFixtures().cases.find((candidate) => candidate.name === 'constant-target')!);
    const metrics = finishRegressionMetrics({ ...sums, ss_tot: Number.MIN_VALUE });
    expect(metrics.r2).toBeNull();
    expect(metrics.undefined_metrics).toEqual({ r2: REASONS.constantTarget });
  });

  it('gives an empty cohort null metrics with reasons', () => {
    const metrics = finishRegressionMetrics(emptyRegressionSums());
    expect(metrics).toMatchObject({ n: 0, mae: null, rmse: null, r2: null, label_availability: null });
    expect(metrics.undefined_metrics).toMatchObject({
      mae: REASONS.noLabels,
      r2: REASONS.noLabels,
      label_availability: REASONS.emptyCohort,
    });
  });
});
