import { beforeAll, describe, expect, it } from 'vitest';
import { estimatePerformance } from '../../activities/estimate/cbpe';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { FAST_FEEDS, storeChallenge, type StoredChallenge } from '../support/mini-challenge';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

const testDb = useTestDatabase();

/**
 * The reference, written independently of the SQL: the expected confusion matrix summed
 * prediction by prediction, and the expected ROC curve drawn point by point (expected TPR
 * and FPR at every distinct score, highest first, from (0, 0)), its area by the trapezoid
 * rule, as NannyML's CBPE estimates ROC AUC.
 */
function reference(rows: Array<{ score: number; threshold?: number | null }>, defaultThreshold: number) {
  const flaggedRows = rows.filter((row) => row.score >= (row.threshold ?? defaultThreshold));
  const positives = rows.reduce((sum, row) => sum + row.score, 0);
  const tp = flaggedRows.reduce((sum, row) => sum + row.score, 0);
  const sorted = [...rows].sort((a, b) => b.score - a.score);
  let area = 0;
  let tpr = 0;
  let fpr = 0;
  let cumulativeP = 0;
  let cumulativeN = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j]!.score === sorted[i]!.score) {
      cumulativeP += sorted[j]!.score;
      cumulativeN += 1 - sorted[j]!.score;
      j++;
    }
    const nextTpr = cumulativeP / positives;
    const nextFpr = cumulativeN / (rows.length - positives);
    area += ((nextFpr - fpr) * (nextTpr + tpr)) / 2;
    tpr = nextTpr;
    fpr = nextFpr;
    i = j;
  }
  return { precision: tp / flaggedRows.length, recall: tp / positives, positive_rate: positives / rows.length, roc_auc: area };
}

const HAND_SCORES = [0.9, 0.8, 0.8, 0.6, 0.4, 0.3, 0.1, 0.05];
let hand: LabelDefinition;
let challenge: StoredChallenge;

beforeAll(async () => {
  hand = (
    await putLabelDefinition(testDb.db, {
      name: 'hand',
      version: 1,
      model_name: 'hand',
      task: 'binary',
      window: 'P10D',
      positive_outcome_types: ['fraud'],
      slices: ['region'],
      decision_threshold: 0.5,
    })
  ).definition;
  await storeRows(
    testDb.db,
    'predictions',
    HAND_SCORES.map((score, i) => ({
      prediction_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      model_name: 'hand',
      model_version: 'v1',
      region: i % 2 === 0 ? 'eu' : 'us',
      ts_pred: `2026-03-01T0${i}:00:00Z`,
      score,
      // the 0.4 carries its own threshold of 0.35, so it is flagged as the evaluation would flag it
      threshold: score === 0.4 ? 0.35 : null,
      entity_ids: {},
      segment: {},
    })),
  );
  challenge = await storeChallenge(
    testDb.db,
    { model_name: 'fraud', model_version: 'v1', ...FAST_FEEDS },
    [{ start: '2026-01-05T00:00:00Z', n: 4000 }],
    7,
  );
});

describe('estimatePerformance', () => {
  const cohort = { model_name: 'hand', model_version: 'v1', environment: null, start: '2026-03-01T00:00:00Z', end: '2026-03-02T00:00:00Z' };

  it('reads the expected confusion matrix from the scores: TP = Σ p over the flagged, at each prediction’s threshold', async () => {
    const estimate = await estimatePerformance(testDb.db, cohort, hand);
    // flagged: 0.9, 0.8, 0.8, 0.6 and the 0.4 (threshold 0.35): expected TP 3.5 of 5 flagged, of 3.95 expected positives
    expect(estimate.n).toBe(8);
    expect(estimate.overall.flagged).toBe(5);
    expect(estimate.overall.expected_positives).toBeCloseTo(3.95, 12);
    expect(estimate.overall.precision).toBeCloseTo(3.5 / 5, 12);
    expect(estimate.overall.recall).toBeCloseTo(3.5 / 3.95, 12);
    expect(estimate.overall.positive_rate).toBeCloseTo(3.95 / 8, 12);
    const expected = reference(
      HAND_SCORES.map((score) => ({ score, threshold: score === 0.4 ? 0.35 : null })),
      0.5,
    );
    expect(estimate.overall.roc_auc).toBeCloseTo(expected.roc_auc, 12);
    const eu = estimate.slices.find((slice) => slice.value === 'eu')!;
    // eu holds 0.9, 0.8, 0.4 (threshold 0.35), 0.1
    expect(eu.recall).toBeCloseTo(2.1 / 2.2, 12);
    expect(eu.roc_auc).toBeCloseTo(
      reference(
        [0.9, 0.8, 0.4, 0.1].map((score) => ({ score })),
        0.35,
      ).roc_auc,
      12,
    );
  });

  it('decides as the evaluation does under decision_source logged: the logged decision, without the predictions that logged none', async () => {
    const logged = (
      await putLabelDefinition(testDb.db, {
        name: 'hand-logged',
        version: 1,
        model_name: 'hand-logged',
        task: 'binary',
        window: 'P10D',
        positive_outcome_types: ['fraud'],
        decision_source: 'logged',
        positive_decisions: ['block'],
      })
    ).definition;
    const decisions = ['block', 'allow', 'block', null, 'block', 'allow', 'allow', 'block'];
    await storeRows(
      testDb.db,
      'predictions',
      HAND_SCORES.map((score, i) => ({
        prediction_id: `00000000-0000-4000-8001-${String(i).padStart(12, '0')}`,
        model_name: 'hand-logged',
        model_version: 'v1',
        ts_pred: `2026-03-01T0${i}:00:00Z`,
        score,
        decision: decisions[i],
        entity_ids: {},
        segment: {},
      })),
    );
    const estimate = await estimatePerformance(testDb.db, { ...cohort, model_name: 'hand-logged' }, logged);
    // The 0.6 logged no decision and is left out; blocked: 0.9, the second 0.8, 0.4 and 0.05,
    // whatever their scores say against the threshold.
    expect(estimate.n).toBe(7);
    expect(estimate.overall.flagged).toBe(4);
    expect(estimate.overall.precision).toBeCloseTo(2.15 / 4, 12);
    expect(estimate.overall.recall).toBeCloseTo(2.15 / 3.35, 12);
  });

  it('matches the independent reference on a generated cohort, overall and per region', async () => {
    const week = challenge.weeks[0]!;
    const estimate = await estimatePerformance(testDb.db, week.cohort, challenge.definition);
    const groups = [
      { estimate: estimate.overall, rows: week.generated.predictions },
      ...estimate.slices.map((slice) => ({ estimate: slice, rows: week.generated.predictions.filter((p) => p.region === slice.value) })),
    ];
    expect(groups).toHaveLength(3);
    for (const group of groups) {
      const expected = reference(group.rows, 0.5);
      for (const metric of ['precision', 'recall', 'positive_rate', 'roc_auc'] as const) {
        expect(Math.abs(group.estimate[metric]! - expected[metric])).toBeLessThan(1e-9);
      }
    }
  });

  it('lands near the metrics the eventual labels give when the scores are calibrated', async () => {
    const week = challenge.weeks[0]!;
    const estimate = await estimatePerformance(testDb.db, week.cohort, challenge.definition);
    const rows = week.generated.predictions.map((p) => ({ flagged: p.score >= 0.5, fraud: week.generated.fraud.get(p.prediction_id)! }));
    const tp = rows.filter((r) => r.flagged && r.fraud).length;
    const realized = { recall: tp / rows.filter((r) => r.fraud).length, precision: tp / rows.filter((r) => r.flagged).length };
    // the realized labels are one draw from the scores: within a few standard errors of the estimate
    expect(Math.abs(estimate.overall.recall! - realized.recall)).toBeLessThan(0.05);
    expect(Math.abs(estimate.overall.precision! - realized.precision)).toBeLessThan(0.05);
    expect(estimate.overall.standard_error.recall).toBeGreaterThan(0);
    expect(estimate.overall.standard_error.recall).toBeLessThan(0.05);
  });

  it('has nothing to estimate in an empty cohort, and refuses a regression definition', async () => {
    const empty = await estimatePerformance(testDb.db, { ...cohort, start: '2027-01-01T00:00:00Z', end: '2027-01-02T00:00:00Z' }, hand);
    expect(empty.n).toBe(0);
    expect(empty.overall.recall).toBeNull();
    expect(empty.overall.roc_auc).toBeNull();
    const regression = { ...hand, task: 'regression' as const, outcome_types: ['amount'] };
    await expect(estimatePerformance(testDb.db, cohort, regression)).rejects.toThrow(/needs a binary one/);
  });
});
