import { describe, expect, it } from 'vitest';
import { registerCohort, storeSnapshot } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { applyMonitoringPolicy } from '../../activities/monitoring/apply-policy';
import { defaultMonitoringDependencies } from '../../activities/monitoring/dependencies';
import { putPolicy } from '../../activities/monitoring/policy';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type LabelDefinition } from '../../contracts/label-definition';
import { type CohortRecord } from '../../contracts/cohort';

const testDb = useTestDatabase();
const WEEK = 7 * 86400_000;
const T0 = Date.parse('2026-06-01T00:00:00Z');

/**
 * One week of a model in two regions: `positives` per region with `caught` of them scored
 * above the threshold, and as many negatives; every positive charges back a day later. Set-based
 * inserts, since 60,000 predictions row by row would be most of the test.
 */
async function storeWeek(
  week: number,
  regions: Array<{ region: string; positives: number; caught: number }>,
): Promise<{ start: string; end: string }> {
  const start = new Date(T0 + week * WEEK).toISOString();
  for (const month of ['2026-06-01', '2026-07-01']) {
    await testDb.db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', ['predictions', month]);
    await testDb.db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', ['outcomes', month]);
  }
  for (const { region, positives, caught } of regions) {
    const n = 2 * positives;
    await testDb.db.raw(
      `insert into predictions (prediction_id, model_name, model_version, environment, region, ts_pred, score, features, content_hash)
       select gen_random_uuid(), 'fraud-gate', 'v1', 'production', :region,
              :start::timestamptz + (i::bigint * (:week_ms::bigint - 1000) / :n) * interval '1 millisecond',
              case when i < :caught then 0.9 when i < :positives then 0.2 else 0.1 end,
              jsonb_build_object('tier', case when i < :caught then 'high' else 'low' end), 'test-row'
       from generate_series(0, :n - 1) as i`,
      { region, start, week_ms: WEEK, n, caught, positives },
    );
  }
  await testDb.db.raw(
    `insert into outcomes (outcome_id, prediction_id, outcome_type, ts_event, ts_received, content_hash)
     select 'cb-' || prediction_id, prediction_id, 'chargeback', ts_pred + interval '1 day', ts_pred + interval '1 day', 'test-row'
     from predictions where model_name = 'fraud-gate' and score > 0.15 and ts_pred >= :start::timestamptz and ts_pred < :start::timestamptz + interval '7 days'`,
    { start },
  );
  // Fresh statistics, as autovacuum would give a real table: the join plans by them.
  await testDb.db.raw('analyze predictions; analyze outcomes');
  return { start, end: new Date(T0 + (week + 1) * WEEK).toISOString() };
}

async function finalSnapshot(definition: LabelDefinition, period: { start: string; end: string }, id: string): Promise<number> {
  const record: CohortRecord = {
    cohort_id: id,
    model_name: 'fraud-gate',
    model_version: 'v1',
    environment: 'production',
    ...period,
    label_definition_name: definition.name,
    label_definition_version: definition.version,
  };
  await registerCohort(testDb.db, record);
  const asOf = new Date(Date.parse(period.end) + 30 * 86400_000).toISOString();
  const stored = await storeSnapshot(testDb.db, record, 'final', 1, await evaluateCohort(testDb.db, record, definition, asOf));
  return stored.snapshot_id;
}

describe('relative_drop per slice with its statistical gate', () => {
  it('the same 25% recall drop fires in a slice of 30,000 predictions and not in a slice of 30; at close, score PSI and the label-free estimate fire before any label', async () => {
    const { definition } = await putLabelDefinition(testDb.db, {
      name: 'chargeback-gate',
      version: 1,
      model_name: 'fraud-gate',
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['chargeback'],
      slices: ['region'],
    });
    await putPolicy(testDb.db, {
      name: 'fraud-gate-policy',
      version: 1,
      model_name: 'fraud-gate',
      label_definition: 'chargeback-gate',
      rules: [
        {
          name: 'recall-wow',
          kind: 'relative_drop',
          metric: 'recall',
          max_drop: 0.2,
          baseline: { kind: 'previous' },
          slices: ['region'],
          min_slice_size: 10,
          severity: 'critical',
        },
      ],
    });
    // Recall 0.8 → 0.6 in both regions: 12,000 → 9,000 of 15,000 positives, and 12 → 9 of 15.
    const before = await storeWeek(0, [
      { region: 'large', positives: 15_000, caught: 12_000 },
      { region: 'small', positives: 15, caught: 12 },
    ]);
    const after = await storeWeek(1, [
      { region: 'large', positives: 15_000, caught: 9_000 },
      { region: 'small', positives: 15, caught: 9 },
    ]);
    await finalSnapshot(definition, before, 'gate-week-0');
    const snapshotId = await finalSnapshot(definition, after, 'gate-week-1');

    const outcome = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'gate-week-1', snapshotId });
    const bySlice = Object.fromEntries(outcome.alerts.map((a) => [a.slice, a]));
    expect(Object.keys(bySlice).sort()).toEqual(['overall', 'region=large']);
    expect(bySlice['region=large']).toMatchObject({ state: 'firing', severity: 'critical', observed: 0.6, baseline: 0.8 });

    // The small slice saw the same drop; its gate judged it noise, and says so.
    const small = outcome.judgements.find((j) => j.slice === 'region=small')!;
    expect(small).toMatchObject({ verdict: 'clear', observed: 0.6, baseline: 0.8 });
    expect(small.relative_change).toBeCloseTo(0.25, 12);
    expect(small.p_value).toBeGreaterThan(0.05);
    expect(small.reason).toMatch(/^not significant/);
    const rows = await testDb.db('alerts').where({ cohort_id: 'gate-week-1' });
    expect(rows).toHaveLength(2);
    const large = rows.find((r) => r.slice_value === 'large');
    expect(large.p_value).toBeLessThan(1e-10);
    expect(large.ci_high).toBeLessThan(0);
    expect(large.evidence.relative_change).toBeCloseTo(0.25, 12);
    // A quality alert carries its cohort's diagnosis: labels complete, recall down on comparable slices.
    expect(large.diagnosis.verdict).toBe('quality');
    expect(outcome.alerts.every((a) => a.verdict === 'quality')).toBe(true);

    // Judging the same snapshot again changes nothing.
    const again = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'gate-week-1', snapshotId });
    expect(again.alerts).toEqual(outcome.alerts);
    expect(Number((await testDb.db('alerts').count({ n: '*' }).first())!.n)).toBe(2);

    // At the close of week 1, before any label: its scores moved (fewer at 0.9, more at 0.2), so
    // the score PSI and the label-free recall estimate fire against week 0.
    await putPolicy(testDb.db, {
      name: 'fraud-gate-early',
      version: 1,
      model_name: 'fraud-gate',
      label_definition: 'chargeback-gate',
      rules: [
        { name: 'score-shift', kind: 'score_psi', max: 0.05, features: ['tier'] },
        { name: 'estimated-recall', kind: 'estimated_drop', metric: 'recall', max_drop: 0.08 },
        { name: 'recall-floor', kind: 'floor', metric: 'recall', min: 0.9 },
      ],
    });
    const atClose = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'gate-week-1', snapshotId: null });
    const early = atClose.judgements.filter((j) => j.policy === 'fraud-gate-early@1');
    // The floor needs labels, so only the two label-free rules were judged at close.
    expect(early.map((j) => [j.rule, j.slice, j.verdict])).toEqual([
      ['score-shift', 'variable=score', 'fire'],
      ['score-shift', 'variable=features.tier', 'clear'],
      ['estimated-recall', 'overall', 'fire'],
    ]);
    // PSI by hand: the share at 0.9 fell from 0.4 to 0.3 and at 0.2 rose from 0.1 to 0.2:
    // (0.3 − 0.4)·ln(0.3/0.4) + (0.2 − 0.1)·ln(0.2/0.1) = 0.0981 (the 0.1 bin is unchanged).
    expect(early[0]!.observed).toBeCloseTo(0.1 * Math.log(4 / 3) + 0.1 * Math.log(2), 3);
    // The categorical feature's PSI is over its categories: 'high' fell from 0.4 to 0.3, 'low' rose from 0.6 to 0.7.
    expect(early[1]!.observed).toBeCloseTo(0.1 * Math.log(4 / 3) + 0.1 * Math.log(7 / 6), 12);
    // CBPE recall = Σ p over flagged / Σ p, p the score calibrated (isotonic, the default) on week 0's labels as of
    // week 1's close: every 0.9 and 0.2 charged back and no 0.1 did, so p is 1, 1 and 0, and the estimate is the
    // share of positives caught: week 1 9,009/15,015 = 0.6 against week 0 12,012/15,015 = 0.8 (large and small
    // together). (Read raw, as before calibration, these were 8,100.9/10,803.6 and 10,800.9/12,903.6.)
    expect(early[2]!.observed).toBeCloseTo(9_009 / 15_015, 9);
    expect(early[2]!.baseline).toBeCloseTo(12_012 / 15_015, 9);
    const closeAlerts = await testDb.db('alerts').where({ cohort_id: 'gate-week-1', policy_name: 'fraud-gate-early' }).orderBy('alert_id');
    expect(closeAlerts.map((a) => [a.rule_kind, a.checkpoint, a.snapshot_id, a.state])).toEqual([
      ['score_psi', null, null, 'firing'],
      ['estimated_drop', null, null, 'firing'],
    ]);
  });

  it('an unchanged week fires nothing, at its close or on its final snapshot', async () => {
    const definition = (
      await putLabelDefinition(testDb.db, {
        name: 'chargeback-gate',
        version: 1,
        model_name: 'fraud-gate',
        task: 'binary',
        window: 'P30D',
        positive_outcome_types: ['chargeback'],
        slices: ['region'],
      })
    ).definition;
    // The early policy's floor (0.9) was set to fire on these weeks; version 2 drops it, and is the one in force.
    await putPolicy(testDb.db, {
      name: 'fraud-gate-early',
      version: 2,
      model_name: 'fraud-gate',
      label_definition: 'chargeback-gate',
      changelog: 'no recall floor',
      rules: [
        { name: 'score-shift', kind: 'score_psi', max: 0.05 },
        { name: 'estimated-recall', kind: 'estimated_drop', metric: 'recall', max_drop: 0.08 },
      ],
    });
    // Week 2 repeats week 1 (same sizes, same recall, same scores); both policies stay quiet.
    const same = await storeWeek(2, [
      { region: 'large', positives: 15_000, caught: 9_000 },
      { region: 'small', positives: 15, caught: 9 },
    ]);
    const snapshotId = await finalSnapshot(definition, same, 'gate-week-2');
    const atClose = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'gate-week-2', snapshotId: null });
    const final = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'gate-week-2', snapshotId });
    expect([...atClose.judgements, ...final.judgements].filter((j) => j.verdict === 'fire')).toEqual([]);
    expect(final.judgements.map((j) => j.rule)).toContain('recall-wow');
    expect(atClose.judgements.map((j) => j.rule).sort()).toEqual(['estimated-recall', 'score-shift']);
    expect(await testDb.db('alerts').where({ cohort_id: 'gate-week-2' })).toEqual([]);
  });
});

describe('require_interval: a slice alert only where its 95% interval excludes the bound', () => {
  const wilson = (
    JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'monitoring', 'band.json'), 'utf8')) as {
      wilson: Record<string, [number, number]>;
    }
  ).wilson;

  it('recall 0.6 under a 0.7 floor: the slice of 15,000 positives fires with its Wilson interval in the evidence; the slice of 15, whose interval reaches 0.7, does not', async () => {
    // Week 1 of the first test (recall 9,000/15,000 in the large region and 9/15 in the small one), evaluated
    // again as an adhoc snapshot: the final one was judged already, and a snapshot is judged once.
    const definition = (await testDb.db('label_definitions').where({ name: 'chargeback-gate', version: 1 }).first('definition'))
      .definition as LabelDefinition;
    const week1: CohortRecord = {
      cohort_id: 'gate-week-1',
      model_name: 'fraud-gate',
      model_version: 'v1',
      environment: 'production',
      start: new Date(T0 + WEEK).toISOString(),
      end: new Date(T0 + 2 * WEEK).toISOString(),
      label_definition_name: 'chargeback-gate',
      label_definition_version: 1,
    };
    const asOf = new Date(T0 + 2 * WEEK + 30 * 86400_000).toISOString();
    const snapshot = await storeSnapshot(testDb.db, week1, 'adhoc', 1, await evaluateCohort(testDb.db, week1, definition, asOf));
    const floor = { kind: 'floor', metric: 'recall', min: 0.7, slices: ['region'], min_slice_size: 10, alpha: 0.99 };
    await putPolicy(testDb.db, {
      name: 'fraud-gate-intervals',
      version: 1,
      model_name: 'fraud-gate',
      label_definition: 'chargeback-gate',
      rules: [
        { name: 'floor-interval', ...floor, require_interval: true },
        { name: 'floor-point', ...floor },
      ],
    });
    const outcome = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, {
      cohortId: 'gate-week-1',
      snapshotId: Number(snapshot.snapshot_id),
    });
    const judged = (rule: string, slice: string) =>
      outcome.judgements.find((j) => j.policy === 'fraud-gate-intervals@1' && j.rule === rule && j.slice === slice)!;
    const close = (actual: { low: number; high: number } | null | undefined, expected: [number, number]) =>
      expect(Math.abs(actual!.low - expected[0]) + Math.abs(actual!.high - expected[1])).toBeLessThan(1e-9);

    // Both slices cross the floor; with the gate this loose, the point rule fires on both.
    expect(judged('floor-point', 'region=large').verdict).toBe('fire');
    expect(judged('floor-point', 'region=small').verdict).toBe('fire');

    const large = judged('floor-interval', 'region=large');
    expect(large.verdict).toBe('fire');
    close(large.metric_interval, wilson['9000/15000']!);
    const small = judged('floor-interval', 'region=small');
    expect(small).toMatchObject({ verdict: 'clear', observed: 0.6, baseline: 0.7 });
    close(small.metric_interval, wilson['9/15']!);
    expect(small.reason).toMatch(/^not shown by its interval: .*includes the bound 0\.7$/);

    // What alerts list --json shows: the interval [low, high] and its method in the evidence.
    const listed = await runHindsightInProcess(['alerts', 'list', '--cohort', 'gate-week-1', '--json'], { DATABASE_URL: testDb.url });
    expect(listed.code).toBe(0);
    const alerts = (JSON.parse(listed.stdout).alerts as Array<Record<string, any>>).filter(
      (a) => a.policy === 'fraud-gate-intervals@1' && a.rule === 'floor-interval',
    );
    expect(alerts.map((a) => a.slice?.value ?? 'overall').sort()).toEqual(['large', 'overall']);
    const largeAlert = alerts.find((a) => a.slice?.value === 'large')!;
    expect(largeAlert.evidence.interval_method).toBe('wilson');
    close({ low: largeAlert.evidence.metric_interval[0], high: largeAlert.evidence.metric_interval[1] }, wilson['9000/15000']!);
  });
});
