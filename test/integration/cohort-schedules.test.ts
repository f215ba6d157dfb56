import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadCohort } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { putPolicy } from '../../activities/monitoring/policy';
import { scheduledCohort } from '../../workflows';
import { FEED_WATCH_WORKFLOW } from '../../contracts/workflow-names';
import { cohortIdFor } from '../../contracts/cohort';
import { useTestDatabase } from '../support/database';
import { runHindsight, runHindsightInProcess } from '../support/run-cli';
import { recordHistory, replay, startTestWorker, waitFor, type TestWorker } from '../support/temporal';

Runtime.install({ logger: new DefaultLogger('WARN') });
const testDb = useTestDatabase();
const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('schedules open one cohort per period', () => {
  let worker: TestWorker;
  let dir: string;
  const hindsight = async (args: string[]) => {
    const run = await runHindsight(args, {
      DATABASE_URL: testDb.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      HINDSIGHT_TASK_QUEUE: worker.taskQueue,
    });
    expect(run.stderr, `hindsight ${args.join(' ')}`).not.toMatch(/\b(select|insert into)\b/i);
    return run;
  };
  const json = async (args: string[]) => {
    const run = await hindsight([...args, '--json']);
    expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout);
  };
  const ingest = async (kind: 'predictions' | 'outcomes', name: string, rows: object[]) => {
    const file = path.join(dir, `${name}.ndjson`);
    await writeFile(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const result = await ingestNdjsonFile(testDb.db, kind, file);
    expect(result.rejected).toEqual([]);
  };

  beforeAll(async () => {
    worker = await startTestWorker(testDb.db);
    dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-schedules-'));
  });
  afterAll(async () => worker?.stop());

  it('backfills ten past days into ten cohorts whose final snapshots equal evaluate as of end + window, and a second backfill opens nothing', async () => {
    testDb.keepOnFailure();
    const firstDay = Math.floor(Date.now() / DAY) * DAY - 20 * DAY;
    // 24 predictions a day, one an hour; every third charged back, received 1 h or 4 h later.
    const predictions = Array.from({ length: 10 * 24 }, (_, i) => ({
      prediction_id: randomUUID(),
      model_name: 'fraud-daily',
      model_version: 'v3',
      environment: 'production',
      region: i % 2 ? 'eu' : 'us',
      ts_pred: new Date(firstDay + i * HOUR + 60_000).toISOString(),
      score: ((i * 13) % 24) / 24,
    }));
    const outcomes = predictions
      .filter((_, i) => i % 3 === 0)
      .map((p, j) => ({
        outcome_id: `cb-${p.prediction_id}`,
        prediction_id: p.prediction_id,
        outcome_type: 'chargeback',
        ts_event: new Date(Date.parse(p.ts_pred) + HOUR).toISOString(),
        ts_received: new Date(Date.parse(p.ts_pred) + (j % 2 ? 4 : 1) * HOUR).toISOString(),
      }));
    await ingest('predictions', 'daily-predictions', predictions);
    await ingest('outcomes', 'daily-outcomes', outcomes);
    const { definition } = await putLabelDefinition(testDb.db, {
      name: 'chargeback-6h',
      version: 1,
      model_name: 'fraud-daily',
      task: 'binary',
      window: 'PT6H',
      checkpoints: ['PT2H'],
      positive_outcome_types: ['chargeback'],
      slices: ['region'],
      late_label_grace: 'PT1H',
    });

    const created = await json([
      'schedule',
      'create',
      '--model',
      'fraud-daily',
      '--version',
      'v3',
      '--environment',
      'production',
      '--label-definition',
      'chargeback-6h',
      '--every',
      'P1D',
    ]);
    const scheduleId = created.schedule_id as string;
    expect(scheduleId).toBe('schedule/fraud-daily/v3/production/chargeback-6h@1/P1D');
    const from = new Date(firstDay).toISOString();
    const to = new Date(firstDay + 10 * DAY).toISOString();
    const backfill = await json(['schedule', 'backfill', scheduleId, '--from', from, '--to', to]);
    const periods = Array.from({ length: 10 }, (_, d) => ({
      start: new Date(firstDay + d * DAY).toISOString(),
      end: new Date(firstDay + (d + 1) * DAY).toISOString(),
    }));
    expect(backfill.periods.map((p: { start: string; end: string }) => ({ start: p.start, end: p.end }))).toEqual(periods);

    const selectorOf = (p: { start: string; end: string }) => ({
      model_name: 'fraud-daily',
      model_version: 'v3',
      environment: 'production',
      ...p,
    });
    const ids = periods.map((p) => cohortIdFor(selectorOf(p), definition));
    const closed = await waitFor(
      async () => {
        const listed = await json(['cohort', 'list', '--model', 'fraud-daily', '--stage', 'closed']);
        return listed.cohorts.length === 10 ? listed.cohorts : undefined;
      },
      90_000,
      'ten closed cohorts',
    );
    expect(closed.map((c: { cohort_id: string }) => c.cohort_id).sort()).toEqual([...ids].sort());
    expect(closed[0]).toMatchObject({
      model_name: 'fraud-daily',
      model_version: 'v3',
      environment: 'production',
      label_definition: 'chargeback-6h@1',
      phase: 'closed',
      workflow_status: 'COMPLETED',
    });

    for (const [d, id] of ids.entries()) {
      const { record } = await loadCohort(testDb.db, id);
      const final = await testDb.db('metric_snapshots').where({ cohort_id: id, checkpoint: 'final', revision: 1 }).first();
      const expected = await evaluateCohort(testDb.db, record, definition, new Date(firstDay + (d + 1) * DAY + 6 * HOUR).toISOString(), {
        labelLag: true,
      });
      expect(final.document).toEqual(expected);
      expect(final.document.overall.n).toBe(24);
      const provisional = await testDb.db('metric_snapshots').where({ cohort_id: id, checkpoint: 'PT2H' }).first();
      expect(new Date(provisional.as_of).getTime()).toBe(firstDay + (d + 1) * DAY + 2 * HOUR);
    }
    const snapshotCount = Number((await testDb.db('metric_snapshots').count({ n: '*' }))[0]!.n);

    const backfilledHistory = await worker.client.workflow.getHandle(ids[0]!).fetchHistory();
    await replay(backfilledHistory, ids[0]!);
    await recordHistory('cohort-lifecycle-backfilled', backfilledHistory);

    // Opening the same periods again finds their cohorts and evaluates nothing twice; without
    // --json it prints a summary (how many, from, to, the first and last), not a line per period.
    const again = await hindsight(['schedule', 'backfill', scheduleId, '--from', from, '--to', to]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim().split('\n')).toEqual([
      `backfilling 10 periods of ${scheduleId} from ${periods[0]!.start} to ${periods[9]!.end}`,
      `  first [${periods[0]!.start}, ${periods[0]!.end})  ${ids[0]}`,
      `  last  [${periods[9]!.start}, ${periods[9]!.end})  ${ids[9]}`,
    ]);
    const openers = await waitFor(
      async () => {
        const runs = [];
        for await (const run of worker.client.workflow.list({
          query: `WorkflowType = 'scheduledCohort' AND TemporalScheduledById = '${scheduleId}' AND ExecutionStatus = 'Completed'`,
        }))
          runs.push(run);
        return runs.length === 20 ? runs : undefined;
      },
      60_000,
      'twenty completed schedule actions',
    );
    const results = await Promise.all(
      openers.map((run) => worker.client.workflow.getHandle<typeof scheduledCohort>(run.workflowId, run.runId).result()),
    );
    expect(results.filter((r) => r.opened)).toHaveLength(10);
    expect(
      results
        .filter((r) => !r.opened)
        .map((r) => r.cohortId)
        .sort(),
    ).toEqual([...ids].sort());
    expect(Number((await testDb.db('metric_snapshots').count({ n: '*' }))[0]!.n)).toBe(snapshotCount);
    const opener = openers[0]!;
    const openerHistory = await worker.client.workflow.getHandle(opener.workflowId, opener.runId).fetchHistory();
    await replay(openerHistory, opener.workflowId);
    await recordHistory('scheduled-cohort', openerHistory);

    // describe: the actions taken and the cohorts they opened, and the periods to come.
    const described = await json(['schedule', 'describe', scheduleId]);
    expect(described).toMatchObject({ schedule_id: scheduleId, paused: false, every: 'P1D', label_definition: 'chargeback-6h@1' });
    expect(described.recent_actions.map((a: { cohort_id: string }) => a.cohort_id)).toEqual(expect.arrayContaining([ids[9]]));
    const nextEnd = (Math.floor(Date.now() / DAY) + 1) * DAY;
    expect(described.upcoming_actions[0]).toEqual({
      nominal_time: new Date(nextEnd).toISOString(),
      cohort_id: cohortIdFor(
        selectorOf({ start: new Date(nextEnd - DAY).toISOString(), end: new Date(nextEnd).toISOString() }),
        definition,
      ),
      period: { start: new Date(nextEnd - DAY).toISOString(), end: new Date(nextEnd).toISOString() },
    });
    expect(
      (await json(['schedule', 'list', '--model', 'fraud-daily'])).schedules.map((s: { schedule_id: string }) => s.schedule_id),
    ).toEqual([scheduleId]);

    await json(['schedule', 'pause', scheduleId, '--note', 'labeling outage']);
    expect(await json(['schedule', 'describe', scheduleId])).toMatchObject({ paused: true, note: 'labeling outage' });
    await json(['schedule', 'unpause', scheduleId]);
    expect((await json(['schedule', 'describe', scheduleId])).paused).toBe(false);
    await json(['schedule', 'delete', scheduleId]);
    const gone = await hindsight(['schedule', 'describe', scheduleId]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`schedule ${scheduleId} not found`);
  });

  it('opens a cohort of exactly each 5-second period live, each closing on its own', async () => {
    testDb.keepOnFailure();
    const now = Date.now();
    await ingest(
      'predictions',
      'live-predictions',
      Array.from({ length: 60 }, (_, i) => ({
        prediction_id: randomUUID(),
        model_name: 'fraud-live',
        model_version: 'v1',
        ts_pred: new Date(now + i * 500).toISOString(),
        score: (i % 10) / 10,
      })),
    );
    await putLabelDefinition(testDb.db, {
      name: 'chargeback-2s',
      version: 1,
      model_name: 'fraud-live',
      task: 'binary',
      window: 'PT2S',
      positive_outcome_types: ['chargeback'],
      late_label_grace: 'PT1S',
    });
    const { schedule_id: scheduleId } = await json([
      'schedule',
      'create',
      '--model',
      'fraud-live',
      '--version',
      'v1',
      '--label-definition',
      'chargeback-2s@1',
      '--every',
      'PT5S',
      '--allow-short-periods',
    ]);
    const closed = await waitFor(
      async () => {
        const listed = await json(['cohort', 'list', '--model', 'fraud-live', '--stage', 'closed']);
        return listed.cohorts.length >= 2 ? listed.cohorts : undefined;
      },
      40_000,
      'two closed live cohorts',
    );
    await json(['schedule', 'delete', scheduleId]);
    for (const cohort of closed) {
      const start = Date.parse(cohort.start);
      expect(Date.parse(cohort.end) - start).toBe(5_000);
      expect(start % 5_000).toBe(0);
      const rows = await testDb
        .db('predictions')
        .where({ model_name: 'fraud-live' })
        .andWhere('ts_pred', '>=', cohort.start)
        .andWhere('ts_pred', '<', cohort.end)
        .count({ n: '*' });
      const final = await testDb.db('metric_snapshots').where({ cohort_id: cohort.cohort_id, checkpoint: 'final' }).first();
      expect(final.document.overall.n).toBe(Number(rows[0]!.n));
    }
  });

  it('takes the period from an explicit nominal time when the server set none, opens it once, and fails without either', async () => {
    const definition = { name: 'chargeback-2s', version: 1, window: 'PT2S', checkpoints: [], late_label_grace: 'PT1S' };
    const input = {
      scheduleId: 'manual',
      model: { name: 'fraud-live', version: 'v1', environment: null },
      labelDefinition: definition,
      every: 'PT1H',
      everyMs: HOUR,
    };
    const nominalTime = new Date(Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR).toISOString();
    const run = (extra: object) =>
      worker.client.workflow.execute(scheduledCohort, {
        taskQueue: worker.taskQueue,
        workflowId: `manual-${randomUUID()}`,
        args: [{ ...input, ...extra }],
      });
    const first = await run({ nominalTime });
    expect(first).toEqual({
      cohortId: cohortIdFor(
        {
          model_name: 'fraud-live',
          model_version: 'v1',
          environment: null,
          start: new Date(Date.parse(nominalTime) - HOUR).toISOString(),
          end: nominalTime,
        },
        definition,
      ),
      start: new Date(Date.parse(nominalTime) - HOUR).toISOString(),
      end: nominalTime,
      opened: true,
    });
    expect(await run({ nominalTime })).toEqual({ ...first, opened: false });
    const failure = await run({}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toContain('has no TemporalScheduledStartTime and no nominalTime');
  });

  it('describes, pauses and deletes every schedule Hindsight makes; refuses periods under a minute and backfills over 1,000 periods', async () => {
    const inProcess = (args: string[]) =>
      runHindsightInProcess(args, {
        DATABASE_URL: testDb.url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        HINDSIGHT_TASK_QUEUE: worker.taskQueue,
      });
    const ok = async (args: string[]) => {
      const run = await inProcess([...args, '--json']);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      return JSON.parse(run.stdout);
    };
    const model = ['--model', 'fraud-kinds', '--version', 'v1', '--label-definition', 'chargeback-kinds'];
    await putLabelDefinition(testDb.db, {
      name: 'chargeback-kinds',
      version: 1,
      model_name: 'fraud-kinds',
      task: 'binary',
      window: 'PT6H',
      positive_outcome_types: ['chargeback'],
    });

    await putPolicy(testDb.db, {
      name: 'kinds-watch',
      version: 1,
      model_name: 'fraud-kinds',
      label_definition: 'chargeback-kinds',
      rules: [{ name: 'feed', kind: 'stalled_feed', outcome_types: ['chargeback'], max_silence: 'PT6H', check_every: 'PT1H' }],
    });

    // Periods under a minute are refused before Temporal is asked, naming the option.
    for (const args of [
      ['schedule', 'create', ...model, '--every', 'PT1S'],
      ['calibrate', 'schedule', ...model, '--every', 'PT30S'],
      ['policy', 'watch', 'kinds-watch', '--every', 'PT10S'],
    ]) {
      const short = await inProcess(args);
      expect(short.code, args.join(' ')).toBe(2);
      expect(short.stderr).toMatch(
        new RegExp(`--every ${args.at(-1)} is shorter than the minimum of 1 minute \\(PT1M\\).* --allow-short-periods`),
      );
    }

    // A cohort schedule: a backfill from year 1 is refused, not sent to the server.
    const cohortSchedule = (await ok(['schedule', 'create', ...model, '--every', 'P1D', '--paused'])).schedule_id as string;
    const huge = await inProcess([
      'schedule',
      'backfill',
      cohortSchedule,
      '--from',
      '0001-01-01T00:00:00Z',
      '--to',
      '2026-01-01T00:00:00Z',
    ]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toMatch(/holds 739,\d{3} periods of P1D, more than 1,000; narrow --from and --to, or pass --force/);
    expect((await worker.client.schedule.getHandle(cohortSchedule).describe()).info.numActionsTaken).toBe(0);

    // A recalibration schedule, and a feed watch as `policy watch` made them before they had a memo.
    const recalibration = (await ok(['calibrate', 'schedule', ...model, '--every', 'P7D'])).schedule_id as string;
    const feedWatch = 'feed-watch/kinds-policy';
    await worker.client.schedule.create({
      scheduleId: feedWatch,
      spec: { intervals: [{ every: '2 hours' }] },
      action: {
        type: 'startWorkflow',
        workflowType: FEED_WATCH_WORKFLOW,
        workflowId: feedWatch,
        taskQueue: worker.taskQueue,
        args: [{ policy: 'kinds-policy' }],
      },
      state: { paused: true },
    });

    expect(await ok(['schedule', 'describe', recalibration])).toMatchObject({
      kind: 'recalibration',
      model_name: 'fraud-kinds',
      every: 'P7D',
      every_ms: 7 * 24 * HOUR,
    });
    expect(await ok(['schedule', 'describe', feedWatch])).toMatchObject({ kind: 'feed-watch', paused: true, every_ms: 2 * HOUR });
    // `policy watch` now keeps the policy and its model in the schedule's memo.
    const watched = (await ok(['policy', 'watch', 'kinds-watch'])).schedule_id as string;
    expect(await ok(['schedule', 'describe', watched])).toMatchObject({
      kind: 'feed-watch',
      policy: 'kinds-watch',
      model_name: 'fraud-kinds',
      every: 'PT1H',
    });
    expect(await ok(['schedule', 'delete', watched])).toMatchObject({ kind: 'feed-watch', deleted: true });
    await ok(['schedule', 'unpause', feedWatch]);
    await ok(['schedule', 'pause', recalibration, '--note', 'holiday']);
    expect(await ok(['schedule', 'describe', recalibration])).toMatchObject({ paused: true, note: 'holiday' });
    const listed = (await ok(['schedule', 'list'])).schedules as Array<{ schedule_id: string; kind: string }>;
    expect(
      listed
        .filter((s) => [cohortSchedule, recalibration, feedWatch].includes(s.schedule_id))
        .map((s) => s.kind)
        .sort(),
    ).toEqual(['cohort', 'feed-watch', 'recalibration']);

    // calibrate schedule delete removes recalibration schedules only.
    const wrongKind = await inProcess(['calibrate', 'schedule', 'delete', cohortSchedule]);
    expect(wrongKind.code).toBe(2);
    expect(wrongKind.stderr).toContain(
      `is a cohort schedule, not a recalibration one; delete it with: hindsight schedule delete ${cohortSchedule}`,
    );
    expect(await ok(['calibrate', 'schedule', 'delete', recalibration])).toEqual({
      schedule_id: recalibration,
      kind: 'recalibration',
      deleted: true,
    });
    expect(await ok(['schedule', 'delete', feedWatch])).toEqual({ schedule_id: feedWatch, kind: 'feed-watch', deleted: true });
    await ok(['schedule', 'delete', cohortSchedule]);
    for (const id of [recalibration, feedWatch, cohortSchedule]) {
      const gone = await inProcess(['schedule', 'describe', id]);
      expect(gone.code).toBe(2);
      expect(gone.stderr).toContain(`schedule ${id} not found`);
    }
  });
});
