import { describe, expect, it } from 'vitest';
import { registerCohort, storeSnapshot } from '../../activities/evaluate/cohorts';
import { type CohortRecord } from '../../contracts/cohort';
import type { EvaluationDocument } from '../../contracts/evaluation';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { applyMonitoringPolicy } from '../../activities/monitoring/apply-policy';
import { defaultMonitoringDependencies } from '../../activities/monitoring/dependencies';
import { putPolicy } from '../../activities/monitoring/policy';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const WEEK = 7 * 86400_000;
const T0 = Date.parse('2026-03-02T00:00:00Z');

/**
 * A snapshot as the rule reads it: the counts of each region (the other metrics play no part in
 * a label-availability judgement, so they are left out of this input).
 */
function snapshot(week: number, labeled: { a: number; b: number }): EvaluationDocument {
  const group = (n: number, nLabeled: number) => ({
    n,
    n_labeled: nLabeled,
    n_final: 0,
    n_positive: Math.round(nLabeled * 0.1),
    label_availability: 0,
  });
  return {
    as_of: new Date(T0 + (week + 1) * WEEK + WEEK).toISOString(),
    label_fingerprint: `w${week}-${labeled.a}-${labeled.b}`,
    overall: group(10_000, labeled.a + labeled.b),
    slices: [
      { dimension: 'region', value: 'a', ...group(5_000, labeled.a) },
      { dimension: 'region', value: 'b', ...group(5_000, labeled.b) },
    ],
  } as unknown as EvaluationDocument;
}

describe('label_availability at a checkpoint', () => {
  it('fires where the share labeled by P7D fell below the curve of earlier finalized cohorts (92% → 70%), not where it held', async () => {
    await putLabelDefinition(testDb.db, {
      name: 'review-7d',
      version: 1,
      model_name: 'fraud-labels',
      task: 'binary',
      window: 'P30D',
      checkpoints: ['P7D'],
      positive_outcome_types: ['fraud'],
      negative_outcome_types: ['legit'],
      absent_means: 'unknown',
      slices: ['region'],
    });
    await putPolicy(testDb.db, {
      name: 'labels-policy',
      version: 1,
      model_name: 'fraud-labels',
      label_definition: 'review-7d',
      rules: [{ name: 'labels-on-time', kind: 'label_availability', tolerance: 0.05, history: 2, slices: ['region'], min_slice_size: 10 }],
    });
    const cohort = async (week: number): Promise<CohortRecord> => {
      const record: CohortRecord = {
        cohort_id: `labels-week-${week}`,
        model_name: 'fraud-labels',
        model_version: 'v1',
        environment: null,
        start: new Date(T0 + week * WEEK).toISOString(),
        end: new Date(T0 + (week + 1) * WEEK).toISOString(),
        label_definition_name: 'review-7d',
        label_definition_version: 1,
      };
      await registerCohort(testDb.db, record);
      return record;
    };
    for (const week of [0, 1]) {
      const record = await cohort(week);
      await storeSnapshot(testDb.db, record, 'P7D', 1, snapshot(week, { a: 4_600, b: 4_600 }));
      await storeSnapshot(testDb.db, record, 'final', 1, snapshot(week, { a: 5_000, b: 5_000 }));
    }
    // Region b's review feed stalls: 2,400 of its 5,000 labeled by P7D; region a as before.
    const stored = await storeSnapshot(testDb.db, await cohort(2), 'P7D', 1, snapshot(2, { a: 4_600, b: 2_400 }));

    const outcome = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, {
      cohortId: 'labels-week-2',
      snapshotId: stored.snapshot_id,
    });
    const bySlice = Object.fromEntries(outcome.judgements.map((j) => [j.slice, j]));
    expect(bySlice['overall']).toMatchObject({ verdict: 'fire', observed: 0.7, baseline: 0.92 });
    expect(bySlice['region=b']).toMatchObject({ verdict: 'fire', observed: 0.48, baseline: 0.92 });
    expect(bySlice['region=a']).toMatchObject({ verdict: 'clear', observed: 0.92, baseline: 0.92 });
    expect(outcome.alerts.map((a) => [a.slice, a.state, a.kind])).toEqual([
      ['overall', 'firing', 'label_availability'],
      ['region=b', 'firing', 'label_availability'],
    ]);
  });
});
