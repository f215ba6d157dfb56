import { beforeAll, describe, expect, it } from 'vitest';
import { addDurations } from '../../activities/evaluate/cohorts';
import { projectToFinal } from '../../activities/estimate/projection';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { measureLabelLatency } from '../../activities/evaluate/label-latency';
import type { BinaryMetrics } from '../../stats/finish-metrics';
import { useTestDatabase } from '../support/database';
import { storeChallenge, type StoredChallenge, type World } from '../support/mini-challenge';
import { type CohortRecord } from '../../contracts/cohort';
import { type ProjectedValue } from '../../contracts/evaluation';

const testDb = useTestDatabase();

/** A slow manual review queue (received 5 to 60 days after the event) and fast chargebacks: early on, the caught frauds are the ones still missing. */
const slowReview = (model_name: string): World => ({
  model_name,
  model_version: 'v1',
  review: { coverage: 0.92, eventDays: [0.05, 2], receiptDays: [5, 60] },
  chargeback: { rate: 0.85, eventDays: [1, 10], receiptDays: [0, 2] },
});
const HISTORY = ['2025-10-06', '2025-10-13', '2025-10-20', '2025-10-27'];
const CURRENT = '2026-01-05';
const plans = [...HISTORY, CURRENT].map((day) => ({ start: `${day}T00:00:00Z`, n: 3000 }));
const stored: Record<'unknown' | 'negative', StoredChallenge> = {} as never;

beforeAll(async () => {
  stored.unknown = await storeChallenge(testDb.db, slowReview('slow-review'), plans, 11, { window: 'P90D', checkpoints: ['P30D', 'P60D'] });
  stored.negative = await storeChallenge(testDb.db, slowReview('slow-review-negative'), plans, 12, {
    window: 'P90D',
    checkpoints: ['P30D', 'P60D'],
    absent_means: 'negative',
  });
});

function record(challenge: StoredChallenge, index: number): CohortRecord {
  const week = challenge.weeks[index]!;
  return {
    ...week.cohort,
    cohort_id: week.cohort_id,
    label_definition_name: challenge.definition.name,
    label_definition_version: challenge.definition.version,
  };
}

const within = (value: ProjectedValue, final: number | null) => {
  expect(final).not.toBeNull();
  expect(value.ci_low).not.toBeNull();
  expect(final!).toBeGreaterThanOrEqual(value.ci_low!);
  expect(final!).toBeLessThanOrEqual(value.ci_high!);
  expect(value.projected!).toBeGreaterThanOrEqual(value.ci_low!);
  expect(value.projected!).toBeLessThanOrEqual(value.ci_high!);
};

describe('projectToFinal', () => {
  for (const absent of ['unknown', 'negative'] as const) {
    it(`projects P30D recall, precision and positive rate to within their interval of the final ones (absent_means: ${absent})`, async () => {
      const challenge = stored[absent];
      const cohort = record(challenge, HISTORY.length);
      const [at30, atFinal] = await addDurations(testDb.db, cohort.end, ['P30D', 'P90D']);
      const document = await evaluateCohort(testDb.db, cohort, challenge.definition, at30!);
      const final = (await evaluateCohort(testDb.db, cohort, challenge.definition, atFinal!)).overall as BinaryMetrics;
      const projection = await projectToFinal(testDb.db, {
        cohort,
        definition: challenge.definition,
        checkpoint: 'P30D',
        asOf: at30!,
        document,
      });
      expect(projection).not.toBeNull();
      expect(projection!.history_cohorts).toEqual(
        challenge.weeks
          .slice(0, HISTORY.length)
          .map((week) => week.cohort_id)
          .reverse(),
      );

      const { recall, precision, positive_rate } = projection!.overall;
      expect(recall.observed).toBe((document.overall as BinaryMetrics).recall);
      // early labels are mostly chargebacks of frauds that got through: the observed recall is far too low
      expect(final.recall! - recall.observed!).toBeGreaterThan(0.1);
      expect(recall.observed!).toBeLessThan(recall.ci_low!);
      within(recall, final.recall);
      within(precision, final.precision);
      within(positive_rate, final.base_rate);
      // per slice (each interval misses 1 time in 20, so not all six are held to theirs): far closer than the observed
      const finalSlices = (await evaluateCohort(testDb.db, cohort, challenge.definition, atFinal!)).slices as Array<
        BinaryMetrics & { value: string | null }
      >;
      expect(projection!.slices).toHaveLength(2);
      for (const slice of projection!.slices) {
        const finalSlice = finalSlices.find((s) => s.value === slice.value)!;
        expect(Math.abs(slice.recall.projected! - finalSlice.recall!)).toBeLessThan(
          Math.abs(slice.recall.observed! - finalSlice.recall!) / 2,
        );
        expect(slice.recall.ci_low!).toBeLessThan(slice.recall.ci_high!);
      }
    });
  }

  it('divides by the completeness the latency history expects at the checkpoint', async () => {
    const challenge = stored.unknown;
    const cohort = record(challenge, HISTORY.length);
    const [at30] = await addDurations(testDb.db, cohort.end, ['P30D']);
    const document = await evaluateCohort(testDb.db, cohort, challenge.definition, at30!);
    const projection = await projectToFinal(testDb.db, {
      cohort,
      definition: challenge.definition,
      checkpoint: 'P30D',
      asOf: at30!,
      document,
    });
    const latency = await measureLabelLatency(testDb.db, { cohort, definition: challenge.definition, asOf: at30! });
    const expected = latency.overall.expected_completeness.find((c) => c.checkpoint === 'P30D')!.expected_share!;
    expect(projection!.expected_completeness).toBeCloseTo(expected, 12);
    // flagged frauds wait for review, unflagged ones are mostly charged back within days
    expect(projection!.completeness.flagged_positives!).toBeLessThan(projection!.completeness.unflagged_positives!);
    // the same inputs give the same interval (a seeded simulation)
    const again = await projectToFinal(testDb.db, { cohort, definition: challenge.definition, checkpoint: 'P30D', asOf: at30!, document });
    expect(again).toEqual(projection);
  });

  it('is null without finalized history to project from', async () => {
    const challenge = stored.unknown;
    const cohort = record(challenge, 0);
    const [at30] = await addDurations(testDb.db, cohort.end, ['P30D']);
    const document = await evaluateCohort(testDb.db, cohort, challenge.definition, at30!);
    expect(
      await projectToFinal(testDb.db, { cohort, definition: challenge.definition, checkpoint: 'P30D', asOf: at30!, document }),
    ).toBeNull();
  });
});
