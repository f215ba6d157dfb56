import { describe, expect, it } from 'vitest';
import { thresholdCurve } from '../../../stats/threshold-curve';
import { collectMismatches } from '../../fixtures/metrics/collect-mismatches';
import { fixtureCase, loadBinaryFixtures, thresholdBuckets } from '../../fixtures/metrics/reference-sums';

const fixtures = loadBinaryFixtures();

describe('thresholdCurve', () => {
  for (const name of ['ties', 'bin-edges', 'all-negative', 'all-positive', 'random-2000']) {
    it(`equals scikit-learn's confusion counts, precision, recall, f1, fpr and expected cost at every grid threshold on "${name}"`, () => {
      const fixture = fixtureCase(fixtures, name);
      const curve = thresholdCurve(fixtures.threshold_grid, thresholdBuckets(fixture.rows, fixtures.threshold_grid), fixture.costs);
      expect(collectMismatches(curve, fixture.expected.overall.threshold_curve, 'curve', 1e-9)).toEqual([]);
    });
  }

  it('flags a score exactly on a grid threshold (score >= threshold)', () => {
    const grid = [0, 0.5, 1];
    const curve = thresholdCurve(grid, [{ bin: 2, count: 1, positives: 1, score_sum: 0.5, min_score: 0.5, max_score: 0.5 }], null);
    expect(curve.map((point) => point.tp)).toEqual([1, 1, 0]);
  });

  it('is empty without labeled predictions', () => {
    expect(thresholdCurve([0, 0.5, 1], [], { fp: 1, fn: 1 })).toEqual([]);
  });
});
