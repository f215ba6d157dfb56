import { describe, expect, it } from 'vitest';
import { expectedCalibrationError, quantileCalibration, scoreDeciles, uniformCalibration, uniformEdge } from '../../../stats/calibration';
import { collectMismatches } from '../../fixtures/metrics/collect-mismatches';
import { binRows, decileBins, fixtureCase, loadBinaryFixtures, numpyPercentile, uniformBins } from '../../fixtures/metrics/reference-sums';

const fixtures = loadBinaryFixtures();

describe('calibration', () => {
  it('uses numpy.linspace edges exactly, so 0.1 * 3 and the literal 0.3 differ as they do in scikit-learn', () => {
    const bins = (fixtureCase(fixtures, 'bin-edges').expected.overall.calibration as { uniform: Array<{ lower: number; upper: number }> })
      .uniform;
    expect(bins.length).toBe(10);
    bins.forEach((bin, k) => {
      expect(uniformEdge(k)).toBe(bin.lower);
      expect(uniformEdge(k + 1)).toBe(bin.upper);
    });
    expect(uniformEdge(3)).not.toBe(0.3);
  });

  for (const name of ['bin-edges', 'ties', 'random-2000']) {
    it(`matches calibration_curve's uniform bins and the ECE on "${name}"`, () => {
      const fixture = fixtureCase(fixtures, name);
      const bins = uniformCalibration(uniformBins(fixture.rows));
      expect(collectMismatches(bins, (fixture.expected.overall.calibration as { uniform: unknown }).uniform, 'uniform', 1e-9)).toEqual([]);
      expect(expectedCalibrationError(bins)).toBeCloseTo(fixture.expected.overall.ece as number, 9);
    });

    it(`matches calibration_curve's quantile bins and the score deciles on "${name}"`, () => {
      const fixture = fixtureCase(fixtures, name);
      const labeled = fixture.rows
        .filter((row) => row.label === 0 || row.label === 1)
        .map((row) => ({ score: row.score, y: row.label as 0 | 1 }));
      const sorted = labeled.map((row) => row.score).sort((a, b) => a - b);
      const edges = Array.from({ length: 11 }, (_, k) => numpyPercentile(sorted, k));
      const bins = binRows(labeled, (row) => edges.slice(1, 10).filter((edge) => edge < row.score).length);
      expect(
        collectMismatches(
          quantileCalibration(bins, edges),
          (fixture.expected.overall.calibration as { quantile: unknown }).quantile,
          'quantile',
          1e-9,
        ),
      ).toEqual([]);
      expect(
        collectMismatches(scoreDeciles(decileBins(fixture.rows)), fixture.expected.overall.calibration_deciles, 'deciles', 1e-9),
      ).toEqual([]);
    });
  }

  it('drops empty bins and has no ECE without labeled predictions', () => {
    expect(uniformCalibration([{ bin: 4, count: 0, positives: 0, score_sum: 0, min_score: 0, max_score: 0 }])).toEqual([]);
    expect(expectedCalibrationError([])).toBeNull();
  });
});
