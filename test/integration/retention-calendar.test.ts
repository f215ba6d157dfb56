import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/hindsight';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { applyRetention, planRetention } from '../../sql/retention';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

const definition = (window: string, late_label_grace: string) => ({
  name: 'churn',
  version: 1,
  model_name: 'churn',
  task: 'binary',
  window,
  late_label_grace,
  positive_outcome_types: ['churned'],
  entity_key: 'user_id',
});

const prediction = (ts_pred: string, user = 'u1') => ({
  prediction_id: randomUUID(),
  model_name: 'churn',
  model_version: '1',
  ts_pred,
  score: 0.5,
  entity_ids: { user_id: user },
});

const decisions = (plan: Awaited<ReturnType<typeof planRetention>>) =>
  Object.fromEntries(plan.partitions.map((p) => [p.partition, p.drop]));

describe('retention against a month-based window on 31-day months', () => {
  const testDb = useTestDatabase();

  it('refuses P31D against a P1M window + P1D grace when the dropped month ends on a 31-day month (Jan 1 + P1M + P1D = Feb 2)', async () => {
    await putLabelDefinition(testDb.db, definition('P1M', 'P1D'));
    // Its labels can arrive until 2026-01-31T23:00 + P1D, after the --now below.
    await storeRows(testDb.db, 'predictions', [prediction('2025-12-31T23:00:00Z')]);
    await expect(planRetention(testDb.db, { keep: 'P31D', now: '2026-02-01T12:00:00Z' })).rejects.toThrow(
      /--keep P31D is too short: .*churn@1 \(window P1M, late_label_grace P1D\) .*until 2026-02-02T00:00:00.000Z/,
    );
    const plan = await planRetention(testDb.db, { keep: 'P31D', now: '2026-02-02T00:00:00Z' });
    expect(decisions(plan)).toMatchObject({ predictions_2025_12: true });
  });
});

describe('retention against a day-based window in a February', () => {
  const testDb = useTestDatabase();

  it('refuses P1M against a P30D window on March 1 (February has 28 days: Feb 1 + P30D = Mar 3)', async () => {
    await putLabelDefinition(testDb.db, definition('P30D', 'P0D'));
    await storeRows(testDb.db, 'predictions', [prediction('2026-01-31T23:00:00Z')]);
    await expect(planRetention(testDb.db, { keep: 'P1M', now: '2026-03-01T00:00:00Z' })).rejects.toThrow(
      /--keep P1M is too short: it would drop the months before 2026-02-01T00:00:00.000Z.*until 2026-03-03T00:00:00.000Z/,
    );
    expect(decisions(await planRetention(testDb.db, { keep: 'P1M', now: '2026-03-03T00:00:00Z' }))).toMatchObject({
      predictions_2026_01: true,
    });
  });
});

describe('retention that is exactly long enough', () => {
  const testDb = useTestDatabase();

  it('accepts P1M against a P31D window when the month before the cutoff has 31 days (Mar 1 + P31D = Apr 1)', async () => {
    await putLabelDefinition(testDb.db, definition('P31D', 'P0D'));
    await storeRows(testDb.db, 'predictions', [prediction('2026-02-27T00:00:00Z')]);
    const plan = await planRetention(testDb.db, { keep: 'P1M', now: '2026-04-01T00:00:00Z' });
    expect(plan.cutoff).toBe('2026-03-01T00:00:00.000Z');
    expect(plan.longest_label_delay).toMatchObject({ label_definition: 'churn@1', settled_at: '2026-04-01T00:00:00.000Z' });
    expect(decisions(plan)).toMatchObject({ predictions_2026_02: true });
  });
});

describe('retention of outcomes that kept predictions still count', () => {
  const testDb = useTestDatabase();
  const kept = prediction('2026-03-05T00:00:00Z');
  const def = definition('P1M', 'P0D');

  it('keeps the outcomes month within one window before the earliest kept prediction, so its leakage count stays', async () => {
    const stored = (await putLabelDefinition(testDb.db, def)).definition as LabelDefinition;
    await storeRows(testDb.db, 'predictions', [prediction('2026-01-10T00:00:00Z', 'u0'), kept]);
    await storeRows(testDb.db, 'outcomes', [
      {
        outcome_id: 'o-jan',
        entity_ids: { user_id: 'u0' },
        outcome_type: 'churned',
        ts_event: '2026-01-20T00:00:00Z',
        ts_received: '2026-01-20T00:00:00Z',
      },
      // Before the March prediction of u1, within one window: leakage the evaluation counts.
      {
        outcome_id: 'o-feb',
        entity_ids: { user_id: 'u1' },
        outcome_type: 'churned',
        ts_event: '2026-02-20T00:00:00Z',
        ts_received: '2026-02-20T00:00:00Z',
      },
    ]);
    const cohort = {
      model_name: 'churn',
      model_version: '1',
      environment: null,
      start: '2026-03-01T00:00:00Z',
      end: '2026-04-01T00:00:00Z',
    };
    const before = await evaluateCohort(testDb.db, cohort, stored, '2026-04-10T00:00:00Z');
    expect(before.join.rejected_before_prediction).toBe(1);

    const plan = await planRetention(testDb.db, { keep: 'P1M', now: '2026-04-10T00:00:00Z' });
    expect(decisions(plan)).toEqual({
      predictions_2026_01: true,
      predictions_2026_03: false,
      outcomes_2026_01: true,
      outcomes_2026_02: false,
    });
    expect(plan.partitions.find((p) => p.partition === 'outcomes_2026_02')?.kept_because).toMatch(/from 2026-03-01T00:00:00.000Z on/);
    await applyRetention(testDb.db, plan);
    const after = await evaluateCohort(testDb.db, cohort, stored, '2026-04-10T00:00:00Z');
    expect(after.join).toEqual(before.join);
    expect(after.overall).toEqual(before.overall);
  });
});

describe('retention under a registered cohort', () => {
  const testDb = useTestDatabase();

  it('keeps the months of a cohort until its end + window + grace, naming the cohort, and drops them after', async () => {
    await putLabelDefinition(testDb.db, definition('P7D', 'P0D'));
    await storeRows(testDb.db, 'predictions', [prediction('2026-01-10T00:00:00Z')]);
    await testDb.db('cohorts').insert({
      cohort_id: 'churn-q1',
      model_name: 'churn',
      model_version: '1',
      start_ts: '2026-01-01T00:00:00Z',
      end_ts: '2026-04-01T00:00:00Z',
      label_definition_name: 'churn',
      label_definition_version: 1,
    });
    const held = await planRetention(testDb.db, { keep: 'P30D', now: '2026-04-03T00:00:00Z' });
    expect(held.partitions.find((p) => p.partition === 'predictions_2026_01')).toMatchObject({
      drop: false,
      kept_because: 'cohort churn-q1 can still label or revise its predictions until 2026-04-08T00:00:00.000Z',
    });
    expect(decisions(await planRetention(testDb.db, { keep: 'P30D', now: '2026-04-08T00:00:00Z' }))).toMatchObject({
      predictions_2026_01: true,
    });
  });
});

describe('retention plan and apply', () => {
  const testDb = useTestDatabase();

  it('reports the exact row count of each partition it would drop, and of each it dropped', async () => {
    await putLabelDefinition(testDb.db, definition('P7D', 'P0D'));
    await storeRows(
      testDb.db,
      'predictions',
      Array.from({ length: 7 }, (_, i) => prediction(`2026-01-0${i + 1}T00:00:00Z`)),
    );
    const plan = await planRetention(testDb.db, { keep: 'P30D', now: '2026-06-01T00:00:00Z' });
    const january = plan.partitions.find((p) => p.partition === 'predictions_2026_01');
    expect(january).toMatchObject({ drop: true, rows: 7 });
    const dropped = await applyRetention(testDb.db, plan);
    expect(dropped).toEqual([expect.objectContaining({ partition: 'predictions_2026_01', rows: 7 })]);
  });

  it('refuses a --now in the future unless forced', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    await expect(planRetention(testDb.db, { keep: 'P30D', now: tomorrow })).rejects.toThrow(/--now .* is in the future.*--force/);
    expect((await planRetention(testDb.db, { keep: 'P30D', now: tomorrow, force: true })).now).toBe(tomorrow);
  });

  it('says so on the command line, without SQL, for a future --now and for a --keep beyond the timestamp range', async () => {
    process.env.DATABASE_URL = testDb.url;
    let stderr = '';
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['node', 'hindsight', 'retention', 'plan', '--keep', 'P30D', '--now', '2999-01-01T00:00:00Z'])).toBe(2);
      expect(await main(['node', 'hindsight', 'retention', 'plan', '--keep', 'P300000Y', '--now', '2026-01-01T00:00:00Z'])).toBe(2);
      expect(await main(['node', 'hindsight', 'retention', 'plan', '--keep', 'P99999999999Y', '--now', '2026-01-01T00:00:00Z'])).toBe(2);
      expect(await main(['node', 'hindsight', 'retention', 'plan', '--keep', 'PT99999999999999H', '--now', '2026-01-01T00:00:00Z'])).toBe(
        2,
      );
      expect(
        await main(['node', 'hindsight', 'retention', 'plan', '--keep', 'P30D', '--now', '2999-01-01T00:00:00Z', '--force', '--json']),
      ).toBe(0);
    } finally {
      err.mockRestore();
      out.mockRestore();
    }
    expect(stderr).toContain('--now 2999-01-01T00:00:00.000Z is in the future');
    expect(stderr).toContain('--keep P300000Y leaves the timestamp range');
    expect(stderr).toContain('--keep P99999999999Y leaves the timestamp range');
    expect(stderr).toContain('--keep PT99999999999999H leaves the timestamp range');
    expect(stderr).not.toMatch(/select|interval/i);
  });
});
