/**
 * `npm run bench:lifecycle`: N concurrent cohort lifecycles (default 1,000; BENCH_COHORTS
 * overrides), each a small cohort (20 predictions, 4 chargebacks) under a label definition of
 * seconds (checkpoints PT2S and PT4S, window PT6S, grace PT2S, one late-label check), on one
 * headless in-memory dev server and one worker in this process; then the same work for a
 * single cohort in the same run. All N cohorts share one end, so every timer of a phase fires
 * at once: the burst a fleet of daily cohorts ending at midnight makes.
 * Last line: `{"bench":"lifecycle","cohorts":…,"events_per_cohort":…,"seconds":…,"rss_mb":…,
 * "single_cohort_seconds":…,"ratio":…}` (targets: ≤ 150 history events per lifecycle, RSS ≤ 500 MB).
 *
 * BENCH_MAX_CACHED_WORKFLOWS, BENCH_WORKFLOW_TASK_SLOTS, BENCH_ACTIVITY_TASK_SLOTS and
 * BENCH_DATABASE_CONNECTIONS try other worker settings than the ones chosen below.
 *
 * Scale-out mode (BENCH_WORKERS=2; BENCH_COHORTS then defaults to 200): the N cohorts on one
 * worker, then N other cohorts on two workers polling the same task queue (two Worker
 * instances in this process, each with its own database pool), in the same run. From the
 * histories: how many evaluations each worker ran, and that every cohort got exactly one
 * snapshot per checkpoint. Last line: `{"bench":"lifecycle-scale-out","cohorts":…,
 * "one_worker_seconds":…,"two_workers_seconds":…,"speedup":…,"evaluations_by_worker":{…},
 * "snapshots_per_checkpoint":1}`.
 *
 * BENCH_DATABASE_ADMIN_URL names the PostgreSQL server (default the machine's, trust auth);
 * the bench database is created, migrated and dropped. TEMPORAL_CLI_PATH as for `hindsight dev`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { evaluationsByWorker, mapLimit, median, sampleRss, taskLatencies, type History } from './lifecycle-measures';
import { NativeConnection } from '@temporalio/worker';
import type { Knex } from 'knex';
import { ingestRecords } from '../activities/ingest/ingest-records';
import { putLabelDefinition } from '../activities/evaluate/label-definitions';
import { startCohortLifecycle } from '../control/start-cohort';
import { migrate } from '../sql/migrate';
import { createDatabase } from '../workers/database';
import { ensureTemporalCli, startDevServer } from '../workers/temporal-dev-server';
import { createHindsightWorker, installRuntimeLogger, WORKER_DEFAULTS } from '../workers/worker';
import type { cohortLifecycle } from '../workflows';
import { type LabelDefinition } from '../contracts/label-definition';
import { cohortRows, loadRows, PREDICTIONS_PER_COHORT } from './cohort-rows';

const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
if (WORKERS !== 1 && WORKERS !== 2) throw new Error(`BENCH_WORKERS must be 1 or 2, not ${process.env.BENCH_WORKERS}`);
const COHORTS = Number(process.env.BENCH_COHORTS ?? (WORKERS > 1 ? 200 : 1_000));
const MODEL = 'bench-lifecycle';
const TASK_QUEUE = 'bench-lifecycle';
/** Histories fetched for the event counts: all of them up to this many, else an even sample. */
const HISTORY_SAMPLE = 1_000;

/** The worker's defaults (see WORKER_DEFAULTS for why), overridable to try others. */
const WORKER_SETTINGS = {
  maxCachedWorkflows: setting('BENCH_MAX_CACHED_WORKFLOWS', WORKER_DEFAULTS.maxCachedWorkflows),
  maxConcurrentWorkflowTaskExecutions: setting('BENCH_WORKFLOW_TASK_SLOTS', WORKER_DEFAULTS.maxConcurrentWorkflowTaskExecutions),
  maxConcurrentActivityTaskExecutions: setting('BENCH_ACTIVITY_TASK_SLOTS', WORKER_DEFAULTS.maxConcurrentActivityTaskExecutions),
};
const DATABASE_CONNECTIONS = setting('BENCH_DATABASE_CONNECTIONS', 12);

/** A positive integer from the environment (to try other settings), else the default. */
function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`);
  return value;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));

interface Run {
  /** First start → last close. */
  ms: number;
  /** Last close after the last lifecycle's own grace end: the overhead beyond the schedule. */
  lagMs: number;
  startMs: number;
  handles: Array<WorkflowHandle<typeof cohortLifecycle>>;
}

/**
 * Starts one lifecycle per version, all ending `leadMs` from now, and waits until each has
 * closed (the worker's cohortClosed sink counts them; visibility confirms at the end).
 */
async function runCohorts(
  client: Client,
  closed: Map<string, number>,
  definition: LabelDefinition,
  versions: string[],
  leadMs: number,
  workerStopped: () => boolean,
  refreshClosed?: () => Promise<void>,
): Promise<Run> {
  const started = Date.now();
  const end = Math.ceil((started + leadMs) / 1000) * 1000;
  const graceEnd = end + 6_000 + 2_000;
  const selectors = versions.map((version) => ({
    model_name: MODEL,
    model_version: version,
    environment: 'production',
    start: new Date(end - 60_000).toISOString(),
    end: new Date(end).toISOString(),
  }));
  const cohorts = await mapLimit(selectors, 32, (selector) =>
    startCohortLifecycle(client, TASK_QUEUE, selector, definition, { lateLabelChecks: 1 }),
  );
  const startMs = Date.now() - started;
  const ids = new Set(cohorts.map((c) => c.cohort_id));
  let reported = 0;
  for (;;) {
    // The SDK stops the worker on SIGINT/SIGTERM; then nothing would close any more.
    if (workerStopped()) throw new Error('the worker stopped before every cohort closed');
    await refreshClosed?.();
    const done = [...ids].filter((id) => closed.has(id)).length;
    if (done === ids.size) break;
    if (Date.now() - reported > 5_000 && versions.length > 1) {
      log(`  ${done}/${ids.size} closed after ${seconds(Date.now() - started)} s`);
      reported = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const lastClose = Math.max(...[...ids].map((id) => closed.get(id)!));
  return {
    ms: lastClose - started,
    lagMs: lastClose - graceEnd,
    startMs,
    handles: cohorts.map((c) => client.workflow.getHandle<typeof cohortLifecycle>(c.cohort_id)),
  };
}

interface Harness {
  db: Knex;
  url: string;
  address: string;
  client: Client;
  definition: LabelDefinition;
  /** Close times by cohort id, as the in-process worker's sink reports them. */
  closed: Map<string, number>;
  rss: ReturnType<typeof sampleRss>;
  workerStopped: () => boolean;
}

/**
 * What both modes measure on: a fresh database with the rows of `versions`' cohorts loaded and
 * analyzed, a Temporal dev server and one in-process worker. `measure` runs against them, and
 * everything is torn down after, whatever happened.
 */
async function withHarness<T>(versions: string[], measure: (harness: Harness) => Promise<T>): Promise<T> {
  installRuntimeLogger('WARN');
  const name = `hindsight_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`create database "${name}"`);
  const db = createDatabase(url, { maxConnections: DATABASE_CONNECTIONS, applicationName: 'hindsight-bench' });
  const server = await startDevServer({ cliPath: ensureTemporalCli(log), port: 0, uiPort: false });
  const rss = sampleRss();
  let connection: NativeConnection | undefined;
  let clientConnection: Connection | undefined;
  try {
    await migrate(db);
    const loadStarted = Date.now();
    const rows = versions.map((version) => cohortRows(MODEL, version, loadStarted));
    await loadRows(db, rows);
    log(`loaded ${versions.length * PREDICTIONS_PER_COHORT} predictions in ${seconds(Date.now() - loadStarted)} s`);
    const { definition } = await putLabelDefinition(db, {
      name: 'bench-chargeback',
      version: 1,
      model_name: MODEL,
      task: 'binary',
      window: 'PT6S',
      checkpoints: ['PT2S', 'PT4S'],
      positive_outcome_types: ['chargeback'],
      absent_means: 'negative',
      late_label_grace: 'PT2S',
    });

    connection = await NativeConnection.connect({ address: server.address });
    clientConnection = await Connection.connect({ address: server.address });
    const client = new Client({ connection: clientConnection });
    const closed = new Map<string, number>();
    const worker = await createHindsightWorker({
      connection,
      db,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      ...WORKER_SETTINGS,
      listener: { snapshotStored: () => {}, cohortClosed: (cohortId) => closed.set(cohortId, Date.now()) },
    });
    let stopped = false;
    const workerRun = worker.run().finally(() => {
      stopped = true;
    });
    try {
      return await measure({ db, url, address: server.address, client, definition, closed, rss, workerStopped: () => stopped });
    } finally {
      if (!stopped) worker.shutdown();
      await workerRun;
    }
  } finally {
    rss.stop();
    await clientConnection?.close();
    await connection?.close();
    await server.stop();
    await db.destroy();
    await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
  }
}

async function main(): Promise<void> {
  if (!Number.isInteger(COHORTS) || COHORTS < 1)
    throw new Error(`BENCH_COHORTS must be a positive integer, not ${process.env.BENCH_COHORTS}`);
  const versions = Array.from({ length: COHORTS }, (_, i) => `v${i}`);
  await withHarness([...versions, 'single'], async ({ db, client, definition, closed, rss, workerStopped }) => {
    log(`worker: ${JSON.stringify({ ...WORKER_SETTINGS, databaseConnections: DATABASE_CONNECTIONS })}`);
    const single = await runCohorts(client, closed, definition, ['single'], 2_000, workerStopped);
    log(`1 cohort: closed ${seconds(single.ms)} s after its start, ${seconds(single.lagMs)} s after its grace end`);
    // The shared end lies beyond the last start on an idle machine (~200 starts/s); on a busy one
    // late starters find checkpoints past and evaluate them at once, as a backfill does.
    const many = await runCohorts(client, closed, definition, versions, 3_000 + 5 * COHORTS, workerStopped);
    log(
      `${COHORTS} cohorts: started in ${seconds(many.startMs)} s; ` +
        `all closed ${seconds(many.ms)} s after the first start, ${seconds(many.lagMs)} s after their grace end`,
    );

    // Each execution's own status, not the visibility store's count, which catches up a moment
    // after the last lifecycle closes.
    const statuses = await mapLimit([...single.handles, ...many.handles], 16, async (handle) => (await handle.describe()).status.name);
    const completed = statuses.filter((status) => status === 'COMPLETED').length;
    if (completed !== COHORTS + 1) throw new Error(`${completed} of ${COHORTS + 1} lifecycles completed`);
    const step = Math.max(1, Math.ceil(COHORTS / HISTORY_SAMPLE));
    const sample = many.handles.filter((_, i) => i % step === 0);
    const histories = await mapLimit(sample, 16, (handle) => handle.fetchHistory());
    const events = histories.map((history) => history.events?.length ?? 0);
    const singleHistory = await single.handles[0]!.fetchHistory();
    const singleEvents = singleHistory.events?.length ?? 0;
    log(`task latencies of ${COHORTS} cohorts (ms): ${JSON.stringify(taskLatencies(histories))}`);
    log(`task latencies of 1 cohort (ms): ${JSON.stringify(taskLatencies([singleHistory]))}`);
    // Under a backlog a checkpoint may have passed before its wait starts (no timer, fewer
    // events), so the single cohort's live history counts too.
    const maxEvents = Math.max(...events, singleEvents);
    log(
      `history events per lifecycle over ${sample.length} histories: ` +
        `max ${Math.max(...events)}, median ${median(events)}; single cohort: ${singleEvents}`,
    );
    const snapshots = Number((await db('metric_snapshots').count({ n: '*' }))[0]!.n);
    log(`snapshots stored: ${snapshots} (${(snapshots / (COHORTS + 1)).toFixed(2)} per cohort)`);
    log(`peak RSS of the worker's process: ${rss.peakMb().toFixed(0)} MB`);
    // Against the baseline measured in this run: how much longer N cohorts take than one.
    const ratio = Number((many.ms / single.ms).toFixed(2));
    log(`${COHORTS} cohorts took ${ratio}× the time of 1`);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'lifecycle',
        cohorts: COHORTS,
        events_per_cohort: maxEvents,
        events_median: median(events),
        single_cohort_events: singleEvents,
        seconds: seconds(many.ms),
        lag_seconds: seconds(many.lagMs),
        rss_mb: Math.round(rss.peakMb()),
        single_cohort_seconds: seconds(single.ms),
        single_cohort_lag_seconds: seconds(single.lagMs),
        ratio,
      })}\n`,
    );
  });
}

/** `hindsight worker` in its own process on the bench's database, server and task queue, once it polls. */
async function spawnWorker(url: string, address: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'hindsight.js'), 'worker'], {
    env: { ...process.env, DATABASE_URL: url, TEMPORAL_ADDRESS: address, HINDSIGHT_TASK_QUEUE: TASK_QUEUE },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('worker polling')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`hindsight worker exited with ${code} before polling: ${stderr}`)));
  });
  return child;
}

/**
 * Scale-out: N cohorts on one worker (this process), then N others on two, the second a
 * `hindsight worker` process on the same task queue, one dev server and one database, in
 * the same run. (The SDK allows one worker per task queue per process.)
 */
async function scaleOut(): Promise<void> {
  const alone = Array.from({ length: COHORTS }, (_, i) => `one-${i}`);
  const shared = Array.from({ length: COHORTS }, (_, i) => `two-${i}`);
  await withHarness([...alone, ...shared], async ({ db, url, address, client, definition, closed, rss, workerStopped }) => {
    let second: ChildProcess | undefined;
    try {
      const one = await runCohorts(client, closed, definition, alone, 3_000 + 5 * COHORTS, workerStopped);
      log(`${COHORTS} cohorts on one worker: all closed ${seconds(one.ms)} s after the first start`);
      second = await spawnWorker(url, address);
      // The cohortClosed sink fires in the worker that ran the last workflow task; the second
      // worker's closes are read from visibility (their close times), once a second.
      let listed = 0;
      const refreshClosed = async () => {
        if (Date.now() - listed < 1_000) return;
        listed = Date.now();
        for await (const execution of client.workflow.list({ query: `TaskQueue = '${TASK_QUEUE}' AND ExecutionStatus = 'Completed'` })) {
          if (!closed.has(execution.workflowId) && execution.closeTime) closed.set(execution.workflowId, execution.closeTime.getTime());
        }
      };
      const two = await runCohorts(client, closed, definition, shared, 3_000 + 5 * COHORTS, workerStopped, refreshClosed);
      log(`${COHORTS} cohorts on two workers: all closed ${seconds(two.ms)} s after the first start`);
      const histories = await mapLimit(two.handles, 16, (handle) => handle.fetchHistory());
      const byWorker = evaluationsByWorker(histories);
      log(`evaluations by worker identity in the two-worker run: ${JSON.stringify(byWorker)}`);
      // Every cohort of both runs: exactly one snapshot per checkpoint (no late labels arrive).
      const perCheckpoint = (await db('metric_snapshots')
        .select('cohort_id', 'checkpoint')
        .count({ n: '*' })
        .groupBy('cohort_id', 'checkpoint')) as Array<{ cohort_id: string; n: number }>;
      const counts = new Set(perCheckpoint.map((row) => Number(row.n)));
      const cohortsWithSnapshots = new Set(perCheckpoint.map((row) => row.cohort_id)).size;
      if (counts.size !== 1 || !counts.has(1) || cohortsWithSnapshots !== 2 * COHORTS) {
        throw new Error(
          `snapshots per checkpoint: ${[...counts].join(', ')} over ${cohortsWithSnapshots} cohorts (expected 1 over ${2 * COHORTS})`,
        );
      }
      if (Object.keys(byWorker).length !== 2)
        throw new Error(`the two-worker run's evaluations ran on ${Object.keys(byWorker).join(', ')} only`);
      log(
        `every cohort of both runs has exactly one snapshot per checkpoint ` +
          `(${perCheckpoint.length} checkpoints of ${cohortsWithSnapshots} cohorts)`,
      );
      process.stdout.write(
        `${JSON.stringify({
          bench: 'lifecycle-scale-out',
          cohorts: COHORTS,
          one_worker_seconds: seconds(one.ms),
          two_workers_seconds: seconds(two.ms),
          speedup: Number((one.ms / two.ms).toFixed(2)),
          evaluations_by_worker: byWorker,
          snapshots_per_checkpoint: 1,
          rss_mb: Math.round(rss.peakMb()),
        })}\n`,
      );
    } finally {
      if (second && second.exitCode === null) {
        second.kill('SIGINT');
        await once(second, 'exit');
      }
    }
  });
}

(WORKERS > 1 ? scaleOut() : main()).catch((error: unknown) => {
  process.stderr.write(`bench:lifecycle failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
