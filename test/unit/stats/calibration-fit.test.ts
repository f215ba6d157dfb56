import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyCalibrator } from '../../../client/calibrator';
import { fitIsotonic } from '../../../stats/isotonic';
import { fitPlatt, plattGradient } from '../../../stats/platt';
import { probabilityQuality, type ProbabilityQuality } from '../../../stats/probability-quality';

interface Quality {
  brier: number;
  log_loss: number;
  ece: number;
}

interface CommonCase {
  name: string;
  scores: number[];
  labels: number[];
  test_scores: number[];
  test_probabilities: number[];
  holdout_scores: number[];
  holdout_labels: number[];
  before: Quality;
  after: Quality;
}

interface PlattCase extends CommonCase {
  sklearn: { a: number; b: number };
  exact: { a: number; b: number };
  sklearn_minus_exact: number;
}

interface IsotonicCase extends CommonCase {
  x_thresholds: number[];
  y_thresholds: number[];
}

/** Written by test/fixtures/calibration/generate.py (scikit-learn); see its header for what each number is. */
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'calibration', 'calibration-cases.json'), 'utf8')) as {
  platt: PlattCase[];
  isotonic: IsotonicCase[];
};

function expectQuality(actual: ProbabilityQuality, expected: Quality): void {
  expect(Math.abs(actual.brier - expected.brier)).toBeLessThan(1e-9);
  expect(Math.abs(actual.log_loss - expected.log_loss)).toBeLessThan(1e-9);
  expect(Math.abs(actual.ece - expected.ece)).toBeLessThan(1e-9);
}

describe('Platt scaling against scikit-learn _sigmoid_calibration', () => {
  for (const c of fixture.platt) {
    it(`${c.name}: the exact optimum to 1e-9, scikit-learn's answer to 1e-6 where its BFGS stopped within 1e-6`, () => {
      const fitted = fitPlatt(c.scores, c.labels);
      expect(Math.abs(fitted.a - c.exact.a)).toBeLessThan(1e-9);
      expect(Math.abs(fitted.b - c.exact.b)).toBeLessThan(1e-9);
      if (c.sklearn_minus_exact < 1e-6) {
        expect(Math.abs(fitted.a - c.sklearn.a)).toBeLessThan(1e-6);
        expect(Math.abs(fitted.b - c.sklearn.b)).toBeLessThan(1e-6);
        c.test_scores.forEach((score, i) => {
          expect(Math.abs(applyCalibrator({ method: 'platt', parameters: fitted }, score) - c.test_probabilities[i]!)).toBeLessThan(1e-6);
        });
      } else {
        // scikit-learn stops at a gradient (max-norm) below 1e-5 (fmin_bfgs' gtol); on a small
        // sample that is further than 1e-6 from the optimum. Its point passes that test, ours is the optimum.
        const theirs = plattGradient(c.scores, c.labels, c.sklearn);
        expect(Math.max(...theirs.map(Math.abs))).toBeLessThan(1e-5);
        const ours = plattGradient(c.scores, c.labels, fitted);
        expect(Math.max(...ours.map(Math.abs))).toBeLessThan(1e-12);
      }
      const after = c.holdout_scores.map((s) => applyCalibrator({ method: 'platt', parameters: c.sklearn }, s));
      expectQuality(probabilityQuality(c.holdout_scores, c.holdout_labels), c.before);
      expectQuality(probabilityQuality(after, c.holdout_labels), c.after);
    });
  }

  it('refuses scores that are all equal', () => {
    expect(() => fitPlatt([0.3, 0.3, 0.3], [0, 1, 1])).toThrow(/two distinct scores/);
  });
});

describe('isotonic regression against scikit-learn IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)', () => {
  for (const c of fixture.isotonic) {
    it(`${c.name}: thresholds and predictions to 1e-9`, () => {
      const fitted = fitIsotonic(c.scores, c.labels);
      expect(fitted.x_thresholds).toEqual(c.x_thresholds);
      expect(fitted.y_thresholds).toHaveLength(c.y_thresholds.length);
      fitted.y_thresholds.forEach((y, i) => expect(Math.abs(y - c.y_thresholds[i]!)).toBeLessThan(1e-9));
      c.test_scores.forEach((score, i) => {
        expect(Math.abs(applyCalibrator({ method: 'isotonic', parameters: fitted }, score) - c.test_probabilities[i]!)).toBeLessThan(1e-9);
      });
      const after = c.holdout_scores.map((s) => applyCalibrator({ method: 'isotonic', parameters: fitted }, s));
      expectQuality(probabilityQuality(c.holdout_scores, c.holdout_labels), c.before);
      expectQuality(probabilityQuality(after, c.holdout_labels), c.after);
    });
  }
});

describe('applyCalibrator', () => {
  it('refuses a score that is not a finite number', () => {
    expect(() => applyCalibrator({ method: 'platt', parameters: { a: -1, b: 0 } }, Number.NaN)).toThrow(/finite/);
  });
});
