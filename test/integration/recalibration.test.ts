import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyCalibrator } from '../../client/calibrator';
import { fitCalibrator, loadActiveCalibrator, promoteCalibrator } from '../../activities/calibrate/calibrators';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { fitIsotonic } from '../../stats/isotonic';
import { fitPlatt } from '../../stats/platt';
import { recalibration } from '../../workflows';
import { LIFECYCLE_STAGE, MODEL_NAME } from '../../contracts/search-attributes';
import { getRecalibrationStateQuery, type RecalibrationInput, type RecalibrationState } from '../../contracts/recalibration';
import { recalibrationStartOptions, recalibrationWorkflowId } from '../../contracts/recalibration';
import { useTestDatabase } from '../support/database';
import { runHindsight, runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';
import { holdWrites, retryStartedAfter, spawnWorkerProcess, victimOf } from '../support/faults';
import { historySummaries, recordHistory, replay, startTestWorker, waitFor, type TestWorker } from '../support/temporal';
import { mulberry32 as random } from '../../stats/seeded-random';
import { type LabelDefinition } from '../../contracts/label-definition';
import { type GroupMetrics } from '../../contracts/evaluation';

Runtime.install({ logger: new DefaultLogger('WARN') });
const testDb = useTestDatabase();

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
/** Four training weeks and the held-out (newest) week, all long final under a one-day window. */
const TRAIN = { from: '2026-09-07T00:00:00.000Z', to: '2026-10-05T00:00:00.000Z' };
const HOLDOUT = { from: '2026-10-05T00:00:00.000Z', to: '2026-10-12T00:00:00.000Z' };
const PER_WEEK = 200;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

interface Row {
  prediction_id: string;
  ts_pred: string;
  score: number;
  y: number;
}

/**
 * One model version's predictions over [from, to), PER_WEEK a week, each labeled with
 * probability truth(score): the model's scores are miscalibrated when truth is not the identity.
 */
function simulate(next: () => number, range: { from: string; to: string }, truth: (score: number) => number): Row[] {
  const from = Date.parse(range.from);
  const count = Math.round(((Date.parse(range.to) - from) / WEEK) * PER_WEEK);
  const span = Date.parse(range.to) - from;
  return Array.from({ length: count }, (_, i) => {
    const score = Math.round((0.02 + 0.96 * next()) * 10_000) / 10_000;
    return {
      prediction_id: randomUUID(),
      ts_pred: new Date(from + Math.floor((i * span) / count)).toISOString(),
      score,
      y: next() < truth(score) ? 1 : 0,
    };
  });
}

/** When a backfilled label feed delivered every outcome of v-late: weeks after each window closed, before now. */
const BACKFILLED = '2026-11-02T00:00:00.000Z';

async function store(version: string, rows: Row[], received?: string): Promise<void> {
  await storeRows(
    testDb.db,
    'predictions',
    rows.map((r) => ({ prediction_id: r.prediction_id, model_name: 'credit', model_version: version, ts_pred: r.ts_pred, score: r.score })),
  );
  // A default an hour after the prediction, received an hour later (long before the range is
  // final), or all at `received`.
  await storeRows(
    testDb.db,
    'outcomes',
    rows
      .filter((r) => r.y === 1)
      .map((r) => ({
        outcome_id: `default-${r.prediction_id}`,
        prediction_id: r.prediction_id,
        outcome_type: 'default',
        ts_event: new Date(Date.parse(r.ts_pred) + HOUR).toISOString(),
        ts_received: received ?? new Date(Date.parse(r.ts_pred) + 2 * HOUR).toISOString(),
      })),
  );
}

const brier = (p: number[], y: number[]) => p.reduce((sum, pi, i) => sum + (pi - y[i]!) ** 2, 0) / p.length;
const inRange = (rows: Row[], range: { from: string; to: string }) =>
  rows.filter((r) => r.ts_pred >= range.from && r.ts_pred < range.to).sort((a, b) => a.score - b.score);

describe('recalibration on the real Temporal dev server and real Postgres', () => {
  let worker: TestWorker;
  let definition: LabelDefinition;
  /** v1 is too timid: true p = sigmoid(3·logit(score)). */
  let timid: Row[];
  /** v2's training weeks are timid too, but its held-out week is calibrated: a sharpened calibrator must lose there. */
  let drifting: Row[];
  const cli = (args: string[]) =>
    runHindsightInProcess(args, {
      DATABASE_URL: testDb.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      HINDSIGHT_TASK_QUEUE: worker.taskQueue,
    });

  beforeAll(async () => {
    worker = await startTestWorker(testDb.db);
    ({ definition } = await putLabelDefinition(testDb.db, {
      name: 'default-1d',
      version: 1,
      model_name: 'credit',
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['default'],
      absent_means: 'negative',
      costs: { fp: 1, fn: 5 },
    }));
    const next = random(20261001);
    const sharpened = (s: number) => sigmoid(3 * logit(s));
    timid = [...simulate(next, TRAIN, sharpened), ...simulate(next, HOLDOUT, sharpened)];
    drifting = [...simulate(next, TRAIN, sharpened), ...simulate(next, HOLDOUT, (s) => s)];
    await store('v1', timid);
    await store('v2', drifting);
    // v-late: v1's predictions and outcomes again, every outcome received with the backfill.
    await store(
      'v-late',
      timid.map((r) => ({ ...r, prediction_id: randomUUID() })),
      BACKFILLED,
    );
  });

  afterAll(async () => {
    await worker?.stop();
  });

  const start = async (input: RecalibrationInput, requestKey: string) => {
    const options = recalibrationStartOptions(input, requestKey);
    return worker.client.workflow.start(recalibration, { ...options, taskQueue: worker.taskQueue });
  };
  const explicit = (version: string): RecalibrationInput => ({
    model: { name: 'credit', version },
    labelDefinition: 'default-1d',
    ranges: { train: TRAIN, holdout: HOLDOUT },
    trigger: 'test',
  });

  it('promotes a calibrator of a miscalibrated model whose held-out Brier is lower, fitted on exactly the finalized rows', async () => {
    testDb.keepOnFailure();
    const handle = await start(explicit('v1'), 'promotes');
    expect(handle.workflowId).toBe(recalibrationWorkflowId({ name: 'credit', version: 'v1' }, 'promotes'));
    const state: RecalibrationState = await handle.result();
    expect(state.phase).toBe('promoted');
    const c = state.calibrator!;
    // 800 labeled training rows: auto fits Platt.
    expect(c).toMatchObject({ method: 'platt', trainRows: 4 * PER_WEEK, holdoutRows: PER_WEEK, improved: true, version: 1 });
    expect(c.after.brier).toBeLessThan(c.before.brier);

    // The rows are the test's own: the fit equals Platt on them, the held-out numbers are theirs.
    const train = inRange(timid, TRAIN);
    const holdout = inRange(timid, HOLDOUT);
    const active = (await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v1' }))!;
    expect(active.calibrator_id).toBe(c.calibratorId);
    // Both ranges are read with the labels known at the recalibration's as-of (its start), which the calibrator keeps.
    expect(active.record.as_of).toBe(state.asOf);
    expect(active.record.train).toMatchObject({
      from: TRAIN.from,
      to: TRAIN.to,
      as_of: state.asOf,
      positives: train.filter((r) => r.y).length,
    });
    const own = fitPlatt(
      train.map((r) => r.score),
      train.map((r) => r.y),
    );
    expect(active.parameters).toEqual(own);
    const calibrated = holdout.map((r) => applyCalibrator({ method: 'platt', parameters: own }, r.score));
    expect(c.before.brier).toBeCloseTo(
      brier(
        holdout.map((r) => r.score),
        holdout.map((r) => r.y),
      ),
      12,
    );
    expect(c.after.brier).toBeCloseTo(
      brier(
        calibrated,
        holdout.map((r) => r.y),
      ),
      12,
    );
    // And the raw numbers are those of the held-out week's evaluation at the same as-of.
    const evaluation = (
      await evaluateCohort(
        testDb.db,
        { model_name: 'credit', model_version: 'v1', environment: null, start: HOLDOUT.from, end: HOLDOUT.to },
        definition,
        state.asOf,
      )
    ).overall as GroupMetrics & { brier: number; log_loss: number; ece: number };
    expect(c.before.brier).toBeCloseTo(evaluation.brier, 12);
    expect(c.before.log_loss).toBeCloseTo(evaluation.log_loss, 12);
    expect(c.before.ece).toBeCloseTo(evaluation.ece, 12);

    // The same request stores one version, however often it runs.
    const again = await fitCalibrator(testDb.db, {
      model_name: 'credit',
      model_version: 'v1',
      environment: null,
      label_definition: { name: 'default-1d' },
      train: TRAIN,
      holdout: HOLDOUT,
      method: 'auto',
      as_of: state.asOf,
      request_key: handle.workflowId,
    });
    expect(again).toMatchObject({ created: false, calibrator: { calibrator_id: c.calibratorId } });
    expect(await testDb.db('calibrators').count('* as n').first()).toEqual({ n: 1 });

    const history = await handle.fetchHistory();
    expect(historySummaries(history)).toEqual([
      'plan the training and held-out ranges as of ' + state.asOf.replace('.000Z', 'Z'),
      'fit auto on [2026-09-07, 2026-10-05), judge on [2026-10-05, 2026-10-12)',
      `promote calibrator ${c.calibratorId}`,
    ]);
    const stages = history
      .events!.map((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.LifecycleStage)
      .filter((payload) => payload !== undefined && payload !== null)
      .map((payload) => defaultPayloadConverter.fromPayload<string>(payload));
    expect(stages).toEqual(['planning', 'fitting', 'promoting', 'promoted']);
    const attributes = (await handle.describe()).typedSearchAttributes;
    expect(attributes.get(MODEL_NAME)).toBe('credit');
    expect(attributes.get(LIFECYCLE_STAGE)).toBe('promoted');
    await replay(history, handle.workflowId);
    await recordHistory('recalibration-promoted', history);
  });

  it('refuses a calibrator that does not lower the held-out Brier score', async () => {
    testDb.keepOnFailure();
    const handle = await start(explicit('v2'), 'refuses');
    const state = await handle.result();
    expect(state.phase).toBe('not_improved');
    const c = state.calibrator!;
    expect(c.improved).toBe(false);
    expect(c.after.brier).toBeGreaterThanOrEqual(c.before.brier);
    expect(state.reason).toMatch(/did not improve/);
    expect(await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v2' })).toBeNull();
    await expect(promoteCalibrator(testDb.db, c.calibratorId, 'test')).rejects.toThrow(/did not lower the held-out Brier score/);
    const history = await handle.fetchHistory();
    await replay(history, handle.workflowId);
    await recordHistory('recalibration-not-improved', history);
  });

  it("fits on labels received after the window but by the run's as-of; a run as of before they arrived fails, saying so", async () => {
    testDb.keepOnFailure();
    const input: RecalibrationInput = { ...explicit('v-late'), method: 'platt' };
    const handle = await start(input, 'late-labels');
    const state = await handle.result();
    expect(state.phase).toBe('promoted');
    const train = inRange(timid, TRAIN);
    const holdout = inRange(timid, HOLDOUT);
    expect(state.calibrator).toMatchObject({ trainRows: train.length, holdoutRows: holdout.length, improved: true });
    const stored = await testDb.db('calibrators').where({ calibrator_id: state.calibrator!.calibratorId }).first();
    // The as-of of the run (the workflow's clock at its start) is the one stored with the calibrator.
    expect((stored.as_of as Date).toISOString()).toBe(state.asOf);
    expect(Date.parse(state.asOf)).toBeGreaterThan(Date.parse(BACKFILLED));
    expect(stored).toMatchObject({
      train_positives: train.filter((r) => r.y).length,
      holdout_positives: holdout.filter((r) => r.y).length,
    });
    expect(stored.parameters).toEqual(
      fitPlatt(
        train.map((r) => r.score),
        train.map((r) => r.y),
      ),
    );
    const history = await handle.fetchHistory();
    await replay(history, handle.workflowId);
    await recordHistory('recalibration-late-labels', history);

    const early = await start({ ...input, asOf: '2026-10-20T00:00:00.000Z' }, 'late-labels-early');
    expect(await early.result()).toMatchObject({
      phase: 'failed',
      calibrator: null,
      reason:
        `fitting failed: the training range [${TRAIN.from}, ${TRAIN.to}) as of 2026-10-20T00:00:00.000Z ` +
        `has no positive labels among ${train.length} labeled predictions`,
    });
  });

  it('ends failed, saying why, when the held-out range is not final yet', async () => {
    testDb.keepOnFailure();
    const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const handle = await start({ ...explicit('v1'), ranges: { train: TRAIN, holdout: { from: HOLDOUT.from, to: now } } }, 'not-final');
    const state = await handle.result();
    expect(state.phase).toBe('failed');
    expect(state.reason).toMatch(
      new RegExp(
        `^fitting failed: the held-out range \\[${HOLDOUT.from.replace(/\./g, '\\.')}, .*\\) is final only at .* \\(its end \\+ the window P1D\\)`,
      ),
    );
    expect(state.calibrator).toBeNull();
  });

  it('waits for an approval signal when asked, with ranges derived from the as-of moment; rejection and timeout promote nothing', async () => {
    testDb.keepOnFailure();
    // Finalized by 2026-10-13T12:00 with a one-day window: weeks ending by 2026-10-12T12:00, i.e. the same five weeks.
    const input: RecalibrationInput = {
      model: { name: 'credit', version: 'v1' },
      labelDefinition: 'default-1d',
      requireApproval: true,
      asOf: '2026-10-13T12:00:00.000Z',
      recent: { every: 'P7D', everyMs: WEEK, trainPeriods: 4, holdoutPeriods: 1 },
      method: 'isotonic',
    };
    const handle = await start(input, 'approved');
    const waiting = await waitFor(
      async () => {
        const s = await handle.query(getRecalibrationStateQuery);
        return s.phase === 'awaiting_approval' ? s : undefined;
      },
      30_000,
      'the recalibration to await approval',
    );
    expect(waiting.plan).toEqual({ labelDefinition: 'default-1d@1', train: TRAIN, holdout: HOLDOUT });
    const train = inRange(timid, TRAIN);
    const stored = await testDb.db('calibrators').where({ calibrator_id: waiting.calibrator!.calibratorId }).first();
    expect(stored.parameters).toEqual(
      fitIsotonic(
        train.map((r) => r.score),
        train.map((r) => r.y),
      ),
    );
    // Not promoted while waiting: the first calibrator stays active.
    const first = (await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v1' }))!.calibrator_id;
    expect(first).not.toBe(waiting.calibrator!.calibratorId);

    const listed = await cli(['calibrate', 'list', '--model', 'credit', '--stage', 'awaiting_approval', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).workflows.map((w: { workflow_id: string }) => w.workflow_id)).toContain(handle.workflowId);
    const approved = await cli([
      'calibrate',
      'approve',
      '--workflow-id',
      handle.workflowId,
      '--by',
      'dana',
      '--note',
      'checked the curve',
      '--json',
    ]);
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toEqual({
      workflow_id: handle.workflowId,
      decision: 'approve',
      by: 'dana',
      calibrator_id: waiting.calibrator!.calibratorId,
    });
    const state = await handle.result();
    expect(state.phase).toBe('promoted');
    expect(state.promotion).toMatchObject({ calibrator_id: waiting.calibrator!.calibratorId, note: 'checked the curve' });
    expect(state.promotion!.promoted_by).toMatch(/^dana /);
    expect((await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v1' }))!.calibrator_id).toBe(
      waiting.calibrator!.calibratorId,
    );
    const late = await cli(['calibrate', 'approve', '--workflow-id', handle.workflowId, '--json']);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/not awaiting approval/);
    const history = await handle.fetchHistory();
    await replay(history, handle.workflowId);
    await recordHistory('recalibration-approved', history);

    const rejected = await start({ ...input, method: 'platt' }, 'rejected');
    await waitFor(
      async () => ((await rejected.query(getRecalibrationStateQuery)).phase === 'awaiting_approval' ? true : undefined),
      30_000,
      'the second recalibration to await approval',
    );
    // Two operators decide at once: one decision is applied, the other is refused, saying so.
    // (Separate processes: the in-process runner captures one command's output at a time.)
    const env = { DATABASE_URL: testDb.url, TEMPORAL_ADDRESS: inject('temporalAddress'), HINDSIGHT_TASK_QUEUE: worker.taskQueue };
    const [approval, rejection] = await Promise.all([
      runHindsight(['calibrate', 'approve', '--workflow-id', rejected.workflowId, '--by', 'ari'], env),
      runHindsight(['calibrate', 'reject', '--workflow-id', rejected.workflowId, '--by', 'dana'], env),
    ]);
    expect([approval.code, rejection.code].sort()).toEqual([0, 2]);
    const [won, lost] = approval.code === 0 ? (['approve', rejection] as const) : (['reject', approval] as const);
    // Refused by the workflow (the decision came second) or, once the first one has moved it on, by the command.
    expect(lost.stderr).toMatch(
      /refused: .* was (approved|rejected) already, by (ari|dana); the first decision counts|not awaiting approval/,
    );
    expect(await rejected.result()).toMatchObject({
      phase: won === 'approve' ? 'promoted' : 'rejected',
      decision: { kind: won, by: won === 'approve' ? 'ari' : 'dana' },
    });
    const decidedHistory = await rejected.fetchHistory();
    await replay(decidedHistory, rejected.workflowId);
    await recordHistory('recalibration-decided', decidedHistory);
    // The active calibrator is the last one approved: the first recalibration's, or the second's if its approval won.
    const decidedState = await rejected.result();
    const active = won === 'approve' ? decidedState.calibrator!.calibratorId : waiting.calibrator!.calibratorId;
    const expired = await start({ ...input, approvalTimeoutMs: 1_500 }, 'expired');
    expect(await expired.result()).toMatchObject({ phase: 'approval_expired', decision: null, promotion: null });
    expect((await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v1' }))!.calibrator_id).toBe(active);
  });

  it('calibrate schedule: each action recalibrates on the newest weeks finalized at its nominal time', async () => {
    testDb.keepOnFailure();
    // The weeks a schedule action taken now uses: the held-out week ends on the last Monday at or before now − 1 day.
    const monday = Date.UTC(1970, 0, 5);
    const finalizedBy = Date.now() - 24 * HOUR;
    const end = monday + Math.floor((finalizedBy - monday) / WEEK) * WEEK;
    const at = (ms: number) => new Date(ms).toISOString();
    const holdout = { from: at(end - WEEK), to: at(end) };
    const train = { from: at(end - 5 * WEEK), to: at(end - WEEK) };
    const next = random(7);
    await store('v3', [...simulate(next, train, (s) => sigmoid(3 * logit(s))), ...simulate(next, holdout, (s) => sigmoid(3 * logit(s)))]);

    const created = await cli([
      'calibrate',
      'schedule',
      '--model',
      'credit',
      '--version',
      'v3',
      '--label-definition',
      'default-1d',
      '--every',
      'P7D',
      '--train-periods',
      '4',
      '--holdout-periods',
      '1',
      '--json',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const scheduleId = JSON.parse(created.stdout).schedule_id as string;
    expect(scheduleId).toBe('recalibration-schedule/credit/v3/*/default-1d/P7D');
    const schedule = worker.client.schedule.getHandle(scheduleId);
    try {
      await schedule.trigger();
      const workflowId = await waitFor(
        async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId,
        20_000,
        'the triggered action',
      );
      expect(workflowId.startsWith(`${scheduleId}-`)).toBe(true);
      const state = await worker.client.workflow.getHandle<typeof recalibration>(workflowId).result();
      expect(state.plan).toEqual({ labelDefinition: 'default-1d@1', train, holdout });
      expect(state.phase).toBe('promoted');
      expect((await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v3' }))!.calibrator_id).toBe(
        state.calibrator!.calibratorId,
      );
    } finally {
      await schedule.delete();
    }
  });

  it('calibrate fit, calibrate apply and threshold from the command line', async () => {
    testDb.keepOnFailure();
    const range = [
      '--model',
      'credit',
      '--version',
      'v1',
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
    const fit = await cli(['calibrate', 'fit', ...range, '--method', 'platt', '--json']);
    expect(fit.stderr).toBe('');
    expect(fit.code).toBe(0);
    const fitted = JSON.parse(fit.stdout);
    const train = inRange(timid, TRAIN);
    expect(fitted).toMatchObject({
      method: 'platt',
      parameters: fitPlatt(
        train.map((r) => r.score),
        train.map((r) => r.y),
      ),
      promoted: true,
      improved: true,
    });
    for (const key of ['calibrator_id', 'before', 'after']) expect(fitted).toHaveProperty(key);
    expect(Object.keys(fitted.before).sort()).toEqual(['brier', 'ece', 'log_loss']);

    const one = await cli(['calibrate', 'apply', '--model', 'credit', '--version', 'v1', '--score', '0.3', '--json']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({
      calibrator_id: fitted.calibrator_id,
      probabilities: [{ line: null, score: 0.3, probability: applyCalibrator(fitted, 0.3) }],
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-apply-'));
    const file = path.join(dir, 'scores.ndjson');
    // Scores are plain decimals (a JSON number or text like "0.5", ".5", "1e-3"); a rejected
    // record prints an empty line, so every output line stays with its record.
    const scores: unknown[] = [0.1, 'high', '', '0x10', '1e', 'Infinity', 'NaN', '  ', '.5', ' 1e-3 ', 0.9];
    await writeFile(
      file,
      scores.map((score, i) => JSON.stringify(i === scores.length - 1 ? { score, id: 'x' } : { score })).join('\n') + '\n',
    );
    const many = await cli(['calibrate', 'apply', file, '--model', 'credit', '--version', 'v1']);
    expect(many.code).toBe(1);
    const probability = (score: number) => String(applyCalibrator(fitted, score));
    expect(many.stdout).toBe(
      [probability(0.1), '', '', '', '', '', '', '', probability(0.5), probability(0.001), probability(0.9)].join('\n') + '\n',
    );
    for (const line of [2, 3, 4, 5, 6, 7, 8])
      expect(many.stderr).toContain(`${file}:${line}: score: must be a decimal number such as 0.5, .5 or 1e-3\n`);
    for (const bad of ['', '0x10', 'Infinity']) {
      const refused = await cli(['calibrate', 'apply', '--model', 'credit', '--version', 'v1', '--score', bad]);
      expect(refused.code, bad).toBe(2);
      expect(refused.stderr).toContain('--score: must be a decimal number such as 0.5, .5 or 1e-3');
    }
    const none = await cli(['calibrate', 'apply', '--model', 'credit', '--version', 'v2', '--score', '0.3']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no active calibrator/);

    // Minimum cost (fp 1, fn 5) on the training weeks, reported on the held-out week from the test's own rows.
    const threshold = await cli(['threshold', ...range, '--min-cost', '--json']);
    expect(threshold.code).toBe(0);
    const document = JSON.parse(threshold.stdout);
    const cost = (rows: Row[], t: number) => rows.reduce((sum, r) => sum + (r.score >= t ? (r.y ? 0 : 1) : r.y ? 5 : 0), 0);
    const candidates = [...new Set(train.map((r) => r.score))];
    const best = Math.min(...candidates.map((t) => cost(train, t)));
    expect(cost(train, document.threshold)).toBe(best);
    const holdout = inRange(timid, HOLDOUT);
    const flagged = holdout.filter((r) => r.score >= document.threshold);
    expect(document.holdout.at_threshold).toMatchObject({
      n: holdout.length,
      tp: flagged.filter((r) => r.y).length,
      fp: flagged.filter((r) => !r.y).length,
      total_cost: cost(holdout, document.threshold),
      expected_cost: cost(holdout, document.threshold) / holdout.length,
    });
    const recall = await cli(['threshold', ...range, '--target-recall', '0.8']);
    expect(recall.code).toBe(0);
    expect(recall.stdout).toMatch(/^threshold \S+ \(target recall 0.8\)/);
    const both = await cli(['threshold', ...range, '--target-recall', '0.8', '--min-cost']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of/);
  });

  it('a promotion retried after it committed promotes nothing again, over a later decision', async () => {
    testDb.keepOnFailure();
    const requestKey = recalibrationWorkflowId({ name: 'credit', version: 'v1' }, 'promotes');
    const decided = await testDb.db('calibrator_promotions').where({ request_key: requestKey }).first('calibrator_id');
    expect(decided).toBeDefined();
    // An operator promotes another version afterwards.
    const { calibrator: chosen } = await fitCalibrator(testDb.db, {
      model_name: 'credit',
      model_version: 'v1',
      environment: null,
      label_definition: { name: 'default-1d' },
      train: TRAIN,
      holdout: HOLDOUT,
      method: 'platt',
      as_of: '2026-11-01T00:00:00.000Z',
      request_key: 'operator-choice',
    });
    await promoteCalibrator(testDb.db, chosen.calibrator_id, 'operator');
    // The first request's promotion is retried (its worker died after the commit): nothing changes.
    const retried = await promoteCalibrator(testDb.db, Number(decided.calibrator_id), 'workflow retry', null, requestKey);
    expect(retried).toMatchObject({ calibrator_id: Number(decided.calibrator_id), promoted_now: false });
    expect((await loadActiveCalibrator(testDb.db, { name: 'credit', version: 'v1' }))!.calibrator_id).toBe(chosen.calibrator_id);
  });

  it('a worker killed inside a fit, then inside the promotion: a second worker retries each within 15 s; one version, one promotion', async () => {
    testDb.keepOnFailure();
    const taskQueue = `recalibration-faults-${randomUUID()}`;
    const spawnWorker = () => spawnWorkerProcess(testDb.url, inject('temporalAddress'), taskQueue);
    const children = [spawnWorker(), spawnWorker()];
    try {
      const options = recalibrationStartOptions(explicit('v1'), 'faults');
      const fits = await holdWrites(testDb.db, 'calibrators', 'insert into "calibrators"');
      const handle = await worker.client.workflow.start(recalibration, { ...options, taskQueue });
      await fits.waitingPid();
      const fitter = await victimOf(worker.client, children, handle.workflowId, 'fitCalibrator');
      expect(fitter, 'the worker running the fit').toBeDefined();
      // The promotion is held too, so the second kill strikes inside it.
      const promotions = await holdWrites(testDb.db, 'calibrator_promotions', 'insert into "calibrator_promotions"');
      fitter!.kill('SIGKILL');
      const fitKilledAt = Date.now();
      children.push(spawnWorker());
      await fits.release();
      await promotions.waitingPid();
      const promoter = await victimOf(worker.client, children, handle.workflowId, 'promoteCalibrator');
      expect(promoter, 'the worker running the promotion').toBeDefined();
      promoter!.kill('SIGKILL');
      const promotionKilledAt = Date.now();
      await promotions.release();

      const state = await handle.result();
      expect(state.phase).toBe('promoted');
      const fitAfter = await retryStartedAfter(worker.client, handle.workflowId, 'fitCalibrator', fitKilledAt);
      const promotionAfter = await retryStartedAfter(worker.client, handle.workflowId, 'promoteCalibrator', promotionKilledAt);
      process.stderr.write(
        `[faults] fit: retried ${(fitAfter / 1000).toFixed(1)} s, promotion: ${(promotionAfter / 1000).toFixed(1)} s after the kill\n`,
      );
      expect(Number((await testDb.db('calibrators').where({ request_key: handle.workflowId }).count({ n: '*' }))[0]!.n)).toBe(1);
      expect(Number((await testDb.db('calibrator_promotions').where({ request_key: handle.workflowId }).count({ n: '*' }))[0]!.n)).toBe(1);
    } finally {
      for (const child of children) child.kill('SIGKILL');
    }
  }, 120_000);
});
