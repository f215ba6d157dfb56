import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCohort, storeSnapshot } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { applyMonitoringPolicy } from '../../activities/monitoring/apply-policy';
import { defaultMonitoringDependencies } from '../../activities/monitoring/dependencies';
import { putPolicy } from '../../activities/monitoring/policy';
import type { CohortRecord } from '../../contracts/cohort';
import type { LabelDefinition } from '../../contracts/label-definition';
import type { ChunkMetrics } from '../../stats/cbpe-estimate';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

/**
 * The `estimated_drop` rule and `diagnose` read the scores through the calibration `hindsight
 * estimate` fits (isotonic on the baseline's labels by default), and the band baseline is the
 * band `estimate` draws; on the seeded, deliberately miscalibrated model of
 * test/fixtures/estimate (its scores are over-confident: s = q^0.6).
 */

interface Rows {
  scores: number[];
  labels: number[];
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'estimate', 'cbpe.json'), 'utf8')) as {
  reference: Rows & { chunk_size: number };
  chunks: Rows[];
};
const bands = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'monitoring', 'band.json'), 'utf8')) as {
  band: Record<string, { mean: number; sd: number; sigmas: Record<string, [number, number]> }>;
  analysis_realized: Record<string, number>;
};

const testDb = useTestDatabase();
const DAY = 86_400_000;
const MODEL = 'cbpe-rules';
const iso = (ms: number) => new Date(ms).toISOString();
/** B: the fixture's drifted days (3 × 800); C: its reference days (5 × 600); D: the drifted days again. */
const B = Date.parse('2026-03-01T00:00:00Z');
const C = Date.parse('2026-03-10T00:00:00Z');
const D = Date.parse('2026-03-20T00:00:00Z');
const referenceDays: Rows[] = Array.from({ length: fixture.reference.scores.length / fixture.reference.chunk_size }, (_, k) => ({
  scores: fixture.reference.scores.slice(k * fixture.reference.chunk_size, (k + 1) * fixture.reference.chunk_size),
  labels: fixture.reference.labels.slice(k * fixture.reference.chunk_size, (k + 1) * fixture.reference.chunk_size),
}));
let definition: LabelDefinition;

/** One day per chunk, each prediction labeled two hours later. */
async function storeDays(start: number, days: Rows[]): Promise<void> {
  const predictions: object[] = [];
  const outcomes: object[] = [];
  days.forEach((day, d) =>
    day.scores.forEach((score, i) => {
      const prediction_id = randomUUID();
      const ts = start + d * DAY + Math.floor((i * DAY) / day.scores.length);
      predictions.push({ prediction_id, model_name: MODEL, model_version: 'v1', ts_pred: iso(ts), score, entity_ids: {}, segment: {} });
      outcomes.push({
        outcome_id: `cr-${prediction_id}`,
        prediction_id,
        outcome_type: day.labels[i] === 1 ? 'bad' : 'good',
        ts_event: iso(ts + 3_600_000),
        ts_received: iso(ts + 7_200_000),
      });
    }),
  );
  await storeRows(testDb.db, 'predictions', predictions);
  await storeRows(testDb.db, 'outcomes', outcomes);
}

function record(id: string, start: number, days: number): CohortRecord {
  return {
    cohort_id: id,
    model_name: MODEL,
    model_version: 'v1',
    environment: null,
    start: iso(start),
    end: iso(start + days * DAY),
    label_definition_name: definition.name,
    label_definition_version: definition.version,
  };
}

beforeAll(async () => {
  await storeDays(B, fixture.chunks);
  await storeDays(C, referenceDays);
  await storeDays(D, fixture.chunks);
  definition = (
    await putLabelDefinition(testDb.db, {
      name: 'cbpe-rules-def',
      version: 1,
      model_name: MODEL,
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['bad'],
      negative_outcome_types: ['good'],
      absent_means: 'unknown',
    })
  ).definition;
  for (const [id, start, days] of [
    ['B', B, 3],
    ['C', C, 5],
    ['D', D, 3],
  ] as const)
    await registerCohort(testDb.db, record(id, start, days));
});

/** `hindsight estimate` of [from, from + days) as one chunk, calibrated on [referenceFrom, + referenceDays). */
async function estimate(
  from: number,
  days: number,
  referenceFrom: number,
  referenceDays: number,
  calibrate: string,
  asOf: number,
): Promise<{ estimated: ChunkMetrics; band: Record<string, [number, number]> }> {
  const run = await runHindsightInProcess(
    [
      'estimate',
      ...['--model', MODEL, '--version', 'v1', '--label-definition', 'cbpe-rules-def'],
      ...['--from', iso(from), '--to', iso(from + days * DAY), '--every', `P${days}D`],
      ...['--reference-from', iso(referenceFrom), '--reference-to', iso(referenceFrom + referenceDays * DAY)],
      ...['--calibrate', calibrate, '--as-of', iso(asOf), '--json'],
    ],
    { DATABASE_URL: testDb.url },
  );
  expect(run.stderr).toBe('');
  const document = JSON.parse(run.stdout);
  expect(document.chunks).toHaveLength(1);
  return document.chunks[0];
}

describe('estimated_drop and diagnose read the calibrated estimate of hindsight estimate', () => {
  it('the rule judges C against B through the isotonic calibrator fitted on B: the estimate of hindsight estimate to 1e-9, not the raw one, and fires where the raw would not', async () => {
    const closeC = C + 5 * DAY;
    const calibrated = {
      current: await estimate(C, 5, B, 3, 'isotonic', closeC),
      baseline: await estimate(B, 3, B, 3, 'isotonic', closeC),
    };
    const raw = {
      current: await estimate(C, 5, B, 3, 'none', closeC),
      baseline: await estimate(B, 3, B, 3, 'none', closeC),
    };
    const drop = (side: typeof raw) => 1 - side.current.estimated.precision! / side.baseline.estimated.precision!;
    // The over-confident scores hide part of the fall in precision that the calibrated probabilities show.
    expect(drop(calibrated)).toBeGreaterThan(drop(raw) + 0.01);
    const maxDrop = (drop(calibrated) + drop(raw)) / 2;
    await putPolicy(testDb.db, {
      name: 'cbpe-calibrated',
      version: 1,
      model_name: MODEL,
      label_definition: 'cbpe-rules-def',
      rules: [
        { name: 'precision-default', kind: 'estimated_drop', metric: 'precision', max_drop: maxDrop },
        { name: 'precision-platt', kind: 'estimated_drop', metric: 'precision', max_drop: maxDrop, calibrate: 'platt' },
        { name: 'precision-raw', kind: 'estimated_drop', metric: 'precision', max_drop: maxDrop, calibrate: 'none' },
      ],
    });
    const outcome = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'C', snapshotId: null });
    const judged = (rule: string) => outcome.judgements.find((j) => j.policy === 'cbpe-calibrated@1' && j.rule === rule)!;

    const byDefault = judged('precision-default');
    expect(Math.abs(byDefault.observed! - calibrated.current.estimated.precision!)).toBeLessThan(1e-9);
    expect(Math.abs(byDefault.baseline! - calibrated.baseline.estimated.precision!)).toBeLessThan(1e-9);
    expect(Math.abs(byDefault.observed! - raw.current.estimated.precision!)).toBeGreaterThan(0.1);
    expect(byDefault.verdict).toBe('fire');
    // The estimate's own interval (its standard error, the normal approximation) rides in the evidence.
    expect(byDefault.metric_interval).toMatchObject({ method: 'normal' });
    expect(byDefault.metric_interval!.low).toBeLessThan(byDefault.observed!);
    expect(byDefault.metric_interval!.high).toBeGreaterThan(byDefault.observed!);

    const platt = await estimate(C, 5, B, 3, 'platt', closeC);
    expect(Math.abs(judged('precision-platt').observed! - platt.estimated.precision!)).toBeLessThan(1e-9);

    const asScored = judged('precision-raw');
    expect(Math.abs(asScored.observed! - raw.current.estimated.precision!)).toBeLessThan(1e-9);
    expect(Math.abs(asScored.baseline! - raw.baseline.estimated.precision!)).toBeLessThan(1e-9);
    expect(asScored.verdict).toBe('clear');

    const alerts = await testDb.db('alerts').where({ cohort_id: 'C', policy_name: 'cbpe-calibrated' }).orderBy('alert_id');
    expect(alerts.filter((a) => a.state === 'firing').map((a) => a.rule_name)).toContain('precision-default');
    expect(alerts.find((a) => a.rule_name === 'precision-default').evidence.interval_method).toBe('normal');
  });

  it('diagnose calibrates on the baseline by default (the estimate of hindsight estimate to 1e-9), and reads raw scores with --calibrate none', async () => {
    // As of a day after C's end: the baseline B is read as of a day after its own end, every label in.
    const asOf = C + 6 * DAY;
    const calibrated = await estimate(C, 5, B, 3, 'isotonic', asOf);
    const raw = await estimate(C, 5, B, 3, 'none', asOf);
    const diagnose = async (extra: string[]) => {
      const run = await runHindsightInProcess(
        [
          'diagnose',
          ...['--model', MODEL, '--version', 'v1', '--label-definition', 'cbpe-rules-def'],
          ...['--from', iso(C), '--to', iso(C + 5 * DAY), '--baseline-from', iso(B), '--baseline-to', iso(B + 3 * DAY)],
          ...['--as-of', iso(asOf), '--json', ...extra],
        ],
        { DATABASE_URL: testDb.url },
      );
      expect(run.stderr).toBe('');
      const check = JSON.parse(run.stdout).checks.find((c: { name: string }) => c.name === 'estimated_performance');
      return check.evidence as { calibration: string; overall: Record<string, { current: number }> };
    };
    const byDefault = await diagnose([]);
    expect(byDefault.calibration).toBe('isotonic');
    for (const metric of ['precision', 'recall', 'roc_auc'] as const)
      expect(Math.abs(byDefault.overall[metric]!.current - calibrated.estimated[metric]!), metric).toBeLessThan(1e-9);
    expect(Math.abs(byDefault.overall.precision!.current - raw.estimated.precision!)).toBeGreaterThan(0.1);
    const none = await diagnose(['--calibrate', 'none']);
    expect(none.calibration).toBe('none');
    for (const metric of ['precision', 'recall', 'roc_auc'] as const)
      expect(Math.abs(none.overall[metric]!.current - raw.estimated[metric]!), metric).toBeLessThan(1e-9);
    // A calibration asked for where the baseline has no label yet is refused, naming the option.
    const early = await runHindsightInProcess(
      [
        'diagnose',
        ...['--model', MODEL, '--version', 'v1', '--label-definition', 'cbpe-rules-def'],
        ...['--from', iso(C), '--to', iso(C + 5 * DAY), '--baseline-from', iso(B), '--baseline-to', iso(B + 3 * DAY)],
        ...['--as-of', iso(C + DAY), '--calibrate', 'platt'],
      ],
      { DATABASE_URL: testDb.url },
    );
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('--calibrate platt needs labeled predictions in the reference range');
  });
});

describe('the band baseline', () => {
  const band = (sigmas: number, extra: object = {}) => ({
    kind: 'relative_drop',
    metric: 'recall',
    max_drop: 0.5,
    baseline: { kind: 'band', reference: { from: iso(C), to: iso(C + 5 * DAY) }, chunk: 'P1D', sigmas },
    ...extra,
  });

  it('fires when the realized recall leaves mean ± sigmas sd (population) of the reference days, as NumPy draws it; require_interval holds back a value whose interval reaches into the band', async () => {
    const d = record('D', D, 3);
    const snapshot = await storeSnapshot(testDb.db, d, 'final', 1, await evaluateCohort(testDb.db, d, definition, iso(D + 4 * DAY)));
    await putPolicy(testDb.db, {
      name: 'cbpe-band',
      version: 1,
      model_name: MODEL,
      label_definition: 'cbpe-rules-def',
      rules: [
        { name: 'recall-2sd', ...band(2) },
        { name: 'recall-3sd', ...band(3) },
        { name: 'recall-2sd-interval', ...band(2, { require_interval: true }) },
        {
          name: 'estimated-recall-band',
          kind: 'estimated_drop',
          metric: 'recall',
          max_drop: 0.5,
          baseline: { kind: 'band', reference: { from: iso(C), to: iso(C + 5 * DAY) }, chunk: 'P1D', sigmas: 3 },
        },
        {
          name: 'estimated-recall-band-raw',
          kind: 'estimated_drop',
          metric: 'recall',
          max_drop: 0.5,
          calibrate: 'none',
          baseline: { kind: 'band', reference: { from: iso(C), to: iso(C + 5 * DAY) }, chunk: 'P1D', sigmas: 3 },
        },
      ],
    });
    const final = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, {
      cohortId: 'D',
      snapshotId: snapshot.snapshot_id,
    });
    const judged = (rule: string) => final.judgements.find((j) => j.policy === 'cbpe-band@1' && j.rule === rule)!;
    const close = (actual: [number, number] | null | undefined, expected: [number, number]) =>
      expect(Math.abs(actual![0] - expected[0]) + Math.abs(actual![1] - expected[1])).toBeLessThan(1e-9);

    const twoSd = judged('recall-2sd');
    expect(Math.abs(twoSd.observed! - bands.analysis_realized.recall!)).toBeLessThan(1e-9);
    close(twoSd.band, bands.band.recall!.sigmas['2']!);
    // The band is mean ± 2 sd, the sd NumPy's std (ddof 0).
    const { mean, sd } = bands.band.recall!;
    close(twoSd.band, [mean - 2 * sd, mean + 2 * sd]);
    expect(twoSd.observed!).toBeGreaterThan(twoSd.band![1]);
    expect(twoSd.verdict).toBe('fire');
    expect(twoSd.reason).toMatch(/^outside the band: recall .* \(mean ± 2 sd of 5 reference chunks\)/);

    const threeSd = judged('recall-3sd');
    close(threeSd.band, bands.band.recall!.sigmas['3']!);
    expect(threeSd.verdict).toBe('clear');

    // Outside the 2 sd band, but its Wilson interval reaches back into it: no alert, and the reason says why.
    const held = judged('recall-2sd-interval');
    expect(held.verdict).toBe('clear');
    expect(held.metric_interval).toMatchObject({ method: 'wilson' });
    expect(held.metric_interval!.low).toBeLessThan(held.band![1]);
    expect(held.reason).toContain('includes the band');

    const alerts = await testDb.db('alerts').where({ cohort_id: 'D', policy_name: 'cbpe-band' });
    const fired = alerts.find((a) => a.rule_name === 'recall-2sd');
    expect(fired.state).toBe('firing');
    close(fired.evidence.band, bands.band.recall!.sigmas['2']!);
    expect(fired.evidence.interval_method).toBe('wilson');
    expect(alerts.find((a) => a.rule_name === 'recall-2sd-interval')?.state ?? 'clear').not.toBe('firing');

    // At D's close, before any label: the calibrated estimate (calibrated on the band's reference, as hindsight
    // estimate calibrates on its reference) is above the 3 sd band; the raw one is inside it.
    const atClose = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, { cohortId: 'D', snapshotId: null });
    const early = (rule: string) => atClose.judgements.find((j) => j.policy === 'cbpe-band@1' && j.rule === rule)!;
    const expected = await estimate(D, 3, C, 5, 'isotonic', D + 3 * DAY);
    const expectedRaw = await estimate(D, 3, C, 5, 'none', D + 3 * DAY);
    const banded = await runHindsightInProcess(
      [
        'estimate',
        ...['--model', MODEL, '--version', 'v1', '--label-definition', 'cbpe-rules-def'],
        ...['--from', iso(D), '--to', iso(D + 3 * DAY), '--every', 'P1D'],
        ...['--reference-from', iso(C), '--reference-to', iso(C + 5 * DAY), '--as-of', iso(D + 3 * DAY), '--json'],
      ],
      { DATABASE_URL: testDb.url },
    );
    const estimateBand = JSON.parse(banded.stdout).chunks[0].band.recall as [number, number];
    const calibratedRule = early('estimated-recall-band');
    expect(Math.abs(calibratedRule.observed! - expected.estimated.recall!)).toBeLessThan(1e-9);
    close(calibratedRule.band, estimateBand);
    expect(calibratedRule.verdict).toBe('fire');
    const rawRule = early('estimated-recall-band-raw');
    expect(Math.abs(rawRule.observed! - expectedRaw.estimated.recall!)).toBeLessThan(1e-9);
    expect(rawRule.verdict).toBe('clear');
  });
});
