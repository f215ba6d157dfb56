import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitCalibrator } from '../../activities/calibrate/calibrators';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { fitPlatt } from '../../stats/platt';
import { mulberry32 as random } from '../../stats/seeded-random';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

/**
 * `calibrate fit --as-of` and `threshold --as-of` (docs/calibration.md "Which rows"): a model
 * whose labels all arrived after the window (a backfilled label feed) is calibrated with the
 * labels known at the as-of, by default now; before they arrived it has no positives.
 */
const testDb = useTestDatabase();

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** Four training weeks and the held-out week; under the one-day window the held-out week is final at 2026-10-13. */
const TRAIN = { from: '2026-09-07T00:00:00.000Z', to: '2026-10-05T00:00:00.000Z' };
const HOLDOUT = { from: '2026-10-05T00:00:00.000Z', to: '2026-10-12T00:00:00.000Z' };
/** When the backfilled label feed delivered every outcome: weeks after each window closed, before now. */
const BACKFILLED = '2026-11-02T00:00:00.000Z';
/** Both ranges final, the backfill not yet received (2026-10-19T22:00Z, spelled with an offset). */
const BEFORE_BACKFILL = '2026-10-20T00:00:00+02:00';
const PER_WEEK = 200;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

interface Row {
  prediction_id: string;
  ts_pred: string;
  score: number;
  /** The label within the window: a default an hour after the prediction. */
  y: number;
  /** A default two days after the prediction: outside the one-day window, so it labels nothing. */
  lateEvent: boolean;
}

function simulate(next: () => number, range: { from: string; to: string }): Row[] {
  const from = Date.parse(range.from);
  const span = Date.parse(range.to) - from;
  const count = Math.round((span / WEEK) * PER_WEEK);
  return Array.from({ length: count }, (_, i) => {
    const score = Math.round((0.02 + 0.96 * next()) * 10_000) / 10_000;
    const y = next() < sigmoid(3 * logit(score)) ? 1 : 0;
    return {
      prediction_id: randomUUID(),
      ts_pred: new Date(from + Math.floor((i * span) / count)).toISOString(),
      score,
      y,
      lateEvent: y === 0 && next() < 0.2,
    };
  });
}

async function store(modelVersion: string, rows: Row[], received: (eventMs: number) => string): Promise<void> {
  await storeRows(
    testDb.db,
    'predictions',
    rows.map((r) => ({
      prediction_id: r.prediction_id,
      model_name: 'loans',
      model_version: modelVersion,
      ts_pred: r.ts_pred,
      score: r.score,
    })),
  );
  const outcome = (r: Row, kind: string, afterMs: number) => {
    const eventMs = Date.parse(r.ts_pred) + afterMs;
    return {
      outcome_id: `${kind}-${r.prediction_id}`,
      prediction_id: r.prediction_id,
      outcome_type: 'default',
      ts_event: new Date(eventMs).toISOString(),
      ts_received: received(eventMs),
    };
  };
  await storeRows(testDb.db, 'outcomes', [
    ...rows.filter((r) => r.y === 1).map((r) => outcome(r, 'default', HOUR)),
    ...rows.filter((r) => r.lateEvent).map((r) => outcome(r, 'late-default', 2 * DAY)),
  ]);
}

const inRange = (rows: Row[], range: { from: string; to: string }) =>
  rows.filter((r) => r.ts_pred >= range.from && r.ts_pred < range.to).sort((a, b) => a.score - b.score);

describe('calibration reads the labels known at its as-of', () => {
  let rows: Row[];
  /** The as-of the first fit took by default. */
  let defaultAsOf: string;
  const cli = (args: string[]) => runHindsightInProcess(args, { DATABASE_URL: testDb.url });
  const range = (version: string) => [
    '--model',
    'loans',
    '--version',
    version,
    '--label-definition',
    'default-1d',
    '--train-from',
    TRAIN.from,
    '--train-to',
    TRAIN.to,
    '--holdout-from',
    HOLDOUT.from,
    '--holdout-to',
    HOLDOUT.to,
  ];
  const storedAsOf = async (calibratorId: number) =>
    ((await testDb.db('calibrators').where({ calibrator_id: calibratorId }).first('as_of')).as_of as Date | null)?.toISOString() ?? null;

  beforeAll(async () => {
    await putLabelDefinition(testDb.db, {
      name: 'default-1d',
      version: 1,
      model_name: 'loans',
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['default'],
      absent_means: 'negative',
      costs: { fp: 1, fn: 5 },
    });
    const next = random(20261207);
    rows = [...simulate(next, TRAIN), ...simulate(next, HOLDOUT)];
    // v1: every outcome arrived with the backfill. v0: the same outcomes, each received an hour after it happened.
    await store('v1', rows, () => BACKFILLED);
    await store(
      'v0',
      rows.map((r) => ({ ...r, prediction_id: randomUUID() })),
      (eventMs) => new Date(eventMs + HOUR).toISOString(),
    );
  });

  it('calibrate fit, by default as of now, fits on the backfilled labels within the window and stores the as-of it used', async () => {
    testDb.keepOnFailure();
    const before = Date.now();
    const fit = await cli(['calibrate', 'fit', ...range('v1'), '--method', 'platt', '--json']);
    const after = Date.now();
    expect(fit.stderr).toBe('');
    expect(fit.code).toBe(0);
    const fitted = JSON.parse(fit.stdout);
    const train = inRange(rows, TRAIN);
    const holdout = inRange(rows, HOLDOUT);
    // The labels are the in-window defaults: the defaults two days out are outside_window, whenever received.
    expect(fitted.parameters).toEqual(
      fitPlatt(
        train.map((r) => r.score),
        train.map((r) => r.y),
      ),
    );
    expect(fitted.train).toMatchObject({ rows: train.length, positives: train.filter((r) => r.y).length, as_of: fitted.as_of });
    expect(fitted.holdout).toMatchObject({ rows: holdout.length, positives: holdout.filter((r) => r.y).length, as_of: fitted.as_of });
    expect(Date.parse(fitted.as_of)).toBeGreaterThanOrEqual(before - 1_000);
    expect(Date.parse(fitted.as_of)).toBeLessThanOrEqual(after);
    expect(await storedAsOf(fitted.calibrator_id)).toBe(fitted.as_of);
    expect(fitted).toMatchObject({ improved: true, promoted: true });
    defaultAsOf = fitted.as_of;
  });

  it('calibrate fit --as-of after the backfill stores that as-of; before it, the fit is refused, naming the range and the as-of', async () => {
    testDb.keepOnFailure();
    const asOf = '2026-11-03T09:30:00+01:00';
    const fit = await cli(['calibrate', 'fit', ...range('v1'), '--method', 'platt', '--as-of', asOf, '--no-promote', '--json']);
    expect(fit.stderr).toBe('');
    expect(fit.code).toBe(0);
    const fitted = JSON.parse(fit.stdout);
    expect(fitted.as_of).toBe('2026-11-03T08:30:00.000Z');
    expect(fitted.train.as_of).toBe('2026-11-03T08:30:00.000Z');
    expect(await storedAsOf(fitted.calibrator_id)).toBe('2026-11-03T08:30:00.000Z');
    const train = inRange(rows, TRAIN);
    expect(fitted.parameters).toEqual(
      fitPlatt(
        train.map((r) => r.score),
        train.map((r) => r.y),
      ),
    );

    const early = await cli(['calibrate', 'fit', ...range('v1'), '--as-of', BEFORE_BACKFILL]);
    expect(early.code).toBe(2);
    expect(early.stdout).toBe('');
    expect(early.stderr).toBe(
      `hindsight: the training range [${TRAIN.from}, ${TRAIN.to}) as of 2026-10-19T22:00:00.000Z ` +
        `has no positive labels among ${train.length} labeled predictions\n`,
    );
    // Before a range's end + window its labels are not final: refused, saying when they are.
    const unfinal = await cli(['calibrate', 'fit', ...range('v1'), '--as-of', '2026-10-12T12:00:00Z']);
    expect(unfinal.code).toBe(2);
    expect(unfinal.stderr).toContain(
      `the held-out range [${HOLDOUT.from}, ${HOLDOUT.to}) is final only at 2026-10-13T00:00:00.000Z (its end + the window P1D), ` +
        'after the as-of 2026-10-12T12:00:00.000Z',
    );
    // An as-of in the future would read labels not known yet.
    const future = await cli(['calibrate', 'fit', ...range('v1'), '--as-of', new Date(Date.now() + 3_600_000).toISOString()]);
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/is in the future .*give an as-of at or before now/);
    const bad = await cli(['calibrate', 'fit', ...range('v1'), '--as-of', '2026-11-03T09:30:00']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--as-of');
    expect(await testDb.db('calibrators').where({ model_version: 'v1' }).count('* as n').first()).toEqual({ n: 2 });
  });

  it('a fit without an as-of (a recalibration scheduled before fits took one) reads each range as of its end + window and stores null', async () => {
    testDb.keepOnFailure();
    const request = {
      model_name: 'loans',
      environment: null,
      label_definition: { name: 'default-1d' },
      train: TRAIN,
      holdout: HOLDOUT,
      method: 'platt' as const,
      as_of: null,
    };
    // The backfilled model has no positives as of 2026-10-06: the failure calibration had before --as-of.
    await expect(fitCalibrator(testDb.db, { ...request, model_version: 'v1' })).rejects.toThrow(
      `the training range [${TRAIN.from}, ${TRAIN.to}) as of 2026-10-06T00:00:00.000Z has no positive labels`,
    );
    const { calibrator } = await fitCalibrator(testDb.db, { ...request, model_version: 'v0' });
    expect(calibrator.as_of).toBeNull();
    expect(calibrator.train.as_of).toBe('2026-10-06T00:00:00.000Z');
    expect(calibrator.holdout.as_of).toBe('2026-10-13T00:00:00.000Z');
    expect(await storedAsOf(calibrator.calibrator_id)).toBeNull();

    const listed = await cli(['calibrate', 'versions', '--model', 'loans', '--json']);
    expect(listed.code).toBe(0);
    const versions = JSON.parse(listed.stdout).calibrators as Array<{ model_version: string; version: number; as_of: string | null }>;
    expect(versions.map((c) => [c.model_version, c.version, c.as_of])).toEqual([
      ['v0', 1, null],
      ['v1', 2, '2026-11-03T08:30:00.000Z'],
      ['v1', 1, defaultAsOf],
    ]);
    const text = await cli(['calibrate', 'versions', '--model', 'loans']);
    expect(text.stdout.split('\n')[0]).toMatch(/ v0 v1 .* labels as of each range's end \+ window$/);
    expect(text.stdout.split('\n')[1]).toMatch(/ v1 v2 .* labels as of 2026-11-03T08:30:00.000Z$/);
  });

  it('threshold reads the labels known at its as-of too: by default now, refused before the backfill', async () => {
    testDb.keepOnFailure();
    const before = Date.now();
    const threshold = await cli(['threshold', ...range('v1'), '--min-cost', '--json']);
    const after = Date.now();
    expect(threshold.stderr).toBe('');
    expect(threshold.code).toBe(0);
    const document = JSON.parse(threshold.stdout);
    expect(Date.parse(document.as_of)).toBeGreaterThanOrEqual(before - 1_000);
    expect(Date.parse(document.as_of)).toBeLessThanOrEqual(after);
    expect(document.train.as_of).toBe(document.as_of);
    const train = inRange(rows, TRAIN);
    const holdout = inRange(rows, HOLDOUT);
    const cost = (set: Row[], t: number) => set.reduce((sum, r) => sum + (r.score >= t ? (r.y ? 0 : 1) : r.y ? 5 : 0), 0);
    const best = Math.min(...[...new Set(train.map((r) => r.score))].map((t) => cost(train, t)));
    expect(cost(train, document.threshold)).toBe(best);
    expect(document.holdout).toMatchObject({
      positives: holdout.filter((r) => r.y).length,
      at_threshold: { total_cost: cost(holdout, document.threshold) },
    });

    const pinned = await cli(['threshold', ...range('v1'), '--min-cost', '--as-of', BACKFILLED, '--json']);
    expect(pinned.code).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ as_of: BACKFILLED, threshold: document.threshold });

    const early = await cli(['threshold', ...range('v1'), '--min-cost', '--as-of', BEFORE_BACKFILL]);
    expect(early.code).toBe(2);
    expect(early.stderr).toBe(
      `hindsight: the training range [${TRAIN.from}, ${TRAIN.to}) as of 2026-10-19T22:00:00.000Z ` +
        `has no positive labels among ${train.length} labeled predictions\n`,
    );
  });
});
