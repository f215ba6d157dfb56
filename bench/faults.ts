/**
 * `npm run bench:faults`: N cohort lifecycles (default 200; BENCH_COHORTS overrides) whose
 * monitoring policy pages a webhook that fails (20% of notifications answered 500 on their
 * first 1–2 attempts, 5% refused with 404, seeded by the idempotency key), while the worker is
 * SIGKILLed three times and the Temporal dev server is stopped and started again once on its
 * state file. Each cohort is bench:lifecycle's (20 predictions, checkpoints PT2S and PT4S,
 * window PT6S, grace PT2S, one late-label check); their ends are staggered, so the faults
 * strike while cohorts wait, evaluate and notify. Workers are `hindsight worker` processes;
 * each killed one's replacement is polling before the SIGKILL (a host dies, its twin carries on).
 *
 * First, in the same run, a warm-up batch of 20 cohorts with a receiver that always answers
 * 200 and no faults: the baseline of how long after its as-of a snapshot is stored.
 *
 * It prints the snapshots per checkpoint (revision 1; exactly one each), the notifications
 * delivered, refused and lost (still pending after a drain of up to 2 minutes, or expected and
 * never queued), and the snapshot delay (created_at − as_of): p50/p99/max of the faulted run
 * and of the warm-up, `added_p99_s` being the difference of their p99s. To tell the receiver's
 * share from the kills' and the restart's, it also splits the faulted run's snapshots by the
 * lifecycle histories (a timed-out or failed task, a retried activity, a late timer) and by
 * whether a fault struck while they were pending. `receiver_added_p99_s` is what the failing
 * receiver alone added, under the same load: among the snapshots no kill or restart touched and
 * taken after the cohort's alert was queued, the p99 delay of cohorts whose receiver answered
 * that alert 500 or 404, minus that of cohorts whose receiver answered 200 (0 give or take noise).
 * Last line: `{"bench":"faults","cohorts":…,"snapshots_exactly_once":…,"delivered":…,"refused":…,
 * "lost":…,"snapshot_delay_p99_s":…,"baseline_p99_s":…,"added_p99_s":…,"receiver_added_p99_s":…,"worker_kills":3,
 * "server_restarts":1,"seconds":…}`. Exits 1 if a snapshot is missing or doubled or a
 * notification is lost, 2 if the bench itself failed.
 *
 * BENCH_DATABASE_ADMIN_URL names the PostgreSQL server (default the machine's, trust auth);
 * the bench database is created, migrated and dropped. TEMPORAL_CLI_PATH as for `hindsight dev`.
 */
import { Client, Connection } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { putLabelDefinition } from '../activities/evaluate/label-definitions';
import { putPolicy } from '../activities/monitoring/policy';
import type { LabelDefinition } from '../contracts/label-definition';
import { migrate } from '../sql/migrate';
import { createDatabase } from '../workers/database';
import { type DevServer, ensureTemporalCli, findFreePort, startDevServer } from '../workers/temporal-dev-server';
import {
  type Bench,
  CHECKPOINTS,
  receiverReport,
  receiverShare,
  startCohorts,
  TASK_QUEUE,
  drain,
  type Fault,
  snapshotsPerCheckpoint,
  type SnapshotTiming,
  snapshotTimings,
  summary,
  waitClosed,
} from './faults-measures';
import { cohortRows, loadRows } from './cohort-rows';
import {
  answerClass,
  faultMarks,
  sumMarks,
  log,
  type Receiver,
  round,
  seconds,
  sleep,
  spawnWorker,
  startReceiver,
  type WorkerProcess,
} from './faults-support';
import { mapLimit } from './lifecycle-measures';

const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const COHORTS = Number(process.env.BENCH_COHORTS ?? 200);
const WARMUP_COHORTS = 20;
const FAULTY_MODEL = 'bench-faults';
const WARMUP_MODEL = 'bench-faults-warmup';
/** The cohorts' ends, this far apart: at least a minute of faulted run, at most ~3 cohorts a second. */
const STEP_MS = Math.max(300, Math.round(60_000 / COHORTS));
/** A cohort closes this long after its end: the window (6 s) and the late-label grace (2 s). */
const LIFETIME_MS = 8_000;
const RECALL_FLOOR = 0.99;
/** Everything, including set-up and tear-down, ends by then (the bench exits 2 if it has to stop it). */
const DEADLINE_MS = Math.max(600_000, 300_000 + 3_000 * COHORTS);

async function main(): Promise<void> {
  if (!Number.isInteger(COHORTS) || COHORTS < 1)
    throw new Error(`BENCH_COHORTS must be a positive integer, not ${process.env.BENCH_COHORTS}`);
  const benchStarted = Date.now();
  const deadline = benchStarted + DEADLINE_MS;

  const name = `hindsight_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`create database "${name}"`);
  const db = createDatabase(url, { maxConnections: 6, applicationName: 'hindsight-bench-faults' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-bench-faults-'));
  const serverOptions = {
    cliPath: ensureTemporalCli(log),
    port: await findFreePort(),
    uiPort: false as const,
    dbFile: path.join(dir, 'temporal.db'),
    logFile: path.join(dir, 'temporal.log'),
  };
  let server: DevServer | undefined;
  let receiver: Receiver | undefined;
  let clientConnection: Connection | undefined;
  const workers: WorkerProcess[] = [];
  const killed = new Set<WorkerProcess>();
  const unexpectedExits: string[] = [];
  const stopWorkers = async (signal: NodeJS.Signals) => {
    await Promise.all(
      workers
        .filter((w) => w.child.exitCode === null && w.child.signalCode === null)
        .map(async (w) => {
          killed.add(w);
          const exited = once(w.child, 'exit');
          w.child.kill(signal);
          const timer = setTimeout(() => w.child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }),
    );
  };
  // The last resort if something hangs past the deadline: no process outlives the bench.
  const hardStop = setTimeout(() => {
    log(`bench:faults: still running ${seconds(DEADLINE_MS + 60_000)} s after its start; stopping`);
    for (const w of workers) w.child.kill('SIGKILL');
    void Promise.race([server?.stop(), sleep(10_000)]).finally(() => process.exit(2));
  }, DEADLINE_MS + 60_000);
  hardStop.unref();
  let finished = false;
  try {
    await migrate(db);
    server = await startDevServer(serverOptions);
    receiver = await startReceiver();
    const workerEnv = { DATABASE_URL: url, TEMPORAL_ADDRESS: server.address, HINDSIGHT_TASK_QUEUE: TASK_QUEUE };
    const startWorker = async () => {
      const worker = await spawnWorker(workerEnv);
      workers.push(worker);
      worker.child.once('exit', (code, signal) => {
        if (!killed.has(worker)) unexpectedExits.push(`worker ${worker.child.pid} exited (${code ?? signal}): ${worker.tail()}`);
      });
      return worker;
    };
    const bench: Bench = {
      db,
      client: undefined as unknown as Client,
      receiver,
      deadline,
      checkWorkers: () => {
        if (unexpectedExits.length > 0) throw new Error(unexpectedExits.join('\n'));
      },
    };

    const loadedAt = Date.now();
    const warmupVersions = Array.from({ length: WARMUP_COHORTS }, (_, i) => `w${i}`);
    const versions = Array.from({ length: COHORTS }, (_, i) => `v${i}`);
    const rows = [
      ...warmupVersions.map((v) => cohortRows(WARMUP_MODEL, v, loadedAt)),
      ...versions.map((v) => cohortRows(FAULTY_MODEL, v, loadedAt)),
    ];
    await loadRows(db, rows);
    const definitions: Record<string, LabelDefinition> = {};
    for (const [model, where] of [
      [WARMUP_MODEL, `${receiver.url}/calm`],
      [FAULTY_MODEL, `${receiver.url}/faulty`],
    ] as const) {
      const { definition } = await putLabelDefinition(db, {
        name: `${model}-chargeback`,
        version: 1,
        model_name: model,
        task: 'binary',
        window: 'PT6S',
        checkpoints: ['PT2S', 'PT4S'],
        positive_outcome_types: ['chargeback'],
        absent_means: 'negative',
        late_label_grace: 'PT2S',
      });
      definitions[model] = definition;
      await putPolicy(db, {
        name: `${model}-policy`,
        version: 1,
        model_name: model,
        label_definition: `${model}-chargeback`,
        rules: [{ name: 'recall-floor', kind: 'floor', metric: 'recall', min: RECALL_FLOOR, severity: 'critical' }],
        notifications: { webhook: { url: where } },
      });
    }
    log(`loaded ${rows.length} cohorts of 20 predictions in ${seconds(Date.now() - loadedAt)} s; receiver at ${receiver.url}`);

    clientConnection = await Connection.connect({ address: server.address });
    bench.client = new Client({ connection: clientConnection });
    let current = await startWorker();
    log(`worker ${current.child.pid} polling after ${seconds(Date.now() - benchStarted)} s`);

    // Warm-up: a receiver that always answers 200, no faults.
    const warmupFirstEnd = Date.now() + 4_000;
    const warmupIds = await startCohorts(
      bench.client,
      TASK_QUEUE,
      STEP_MS,
      definitions[WARMUP_MODEL]!,
      WARMUP_MODEL,
      warmupVersions,
      loadedAt,
      warmupFirstEnd,
    );
    const warmupLastClose = warmupFirstEnd + (WARMUP_COHORTS - 1) * STEP_MS + LIFETIME_MS;
    await waitClosed(bench, warmupIds, Math.min(deadline, warmupLastClose + 60_000), 'warm-up');
    const warmupStates = await drain(bench, WARMUP_MODEL, 'warm-up');
    if (!warmupStates.delivered) throw new Error('the warm-up cohorts queued no notification: the recall floor never fired');
    log(`warm-up: ${WARMUP_COHORTS} cohorts closed ${seconds(Date.now() - warmupFirstEnd)} s after the first end`);

    // The faulted run: cohorts ending STEP_MS apart, faults spread over the time they evaluate.
    const runStarted = Date.now();
    const firstEnd = Date.now() + 5_000 + 20 * COHORTS;
    const ids = await startCohorts(
      bench.client,
      TASK_QUEUE,
      STEP_MS,
      definitions[FAULTY_MODEL]!,
      FAULTY_MODEL,
      versions,
      loadedAt,
      firstEnd,
    );
    log(`${COHORTS} cohorts started in ${seconds(Date.now() - runStarted)} s, ending ${STEP_MS} ms apart`);
    const windowStart = firstEnd + 2_000;
    const windowMs = (COHORTS - 1) * STEP_MS + LIFETIME_MS - 2_000;
    const faults: Fault[] = (
      [
        ['kill', 0.15],
        ['restart', 0.4],
        ['kill', 0.65],
        ['kill', 0.9],
      ] as const
    ).map(([kind, share]) => ({ kind, at: Math.round(windowStart + share * windowMs) }));
    const rel = (at: number) => `${seconds(at - firstEnd)} s after the first end`;
    let workerKills = 0;
    let serverRestarts = 0;
    for (const fault of faults) {
      if (fault.kind === 'kill') {
        // The replacement polls first; then the worker that ran everything so far dies like a host.
        const replacement = await startWorker();
        await sleep(fault.at - Date.now());
        const victim = current;
        current = replacement;
        killed.add(victim);
        fault.done = Date.now();
        const exited = once(victim.child, 'exit');
        victim.child.kill('SIGKILL');
        await exited;
        fault.recovered = Date.now();
        workerKills++;
        log(`SIGKILLed worker ${victim.child.pid} ${rel(fault.done)}; worker ${replacement.child.pid} polls on`);
      } else {
        await sleep(fault.at - Date.now());
        fault.done = Date.now();
        await server.stop();
        const stopped = Date.now();
        await sleep(2_000);
        server = await startDevServer(serverOptions);
        fault.recovered = Date.now();
        serverRestarts++;
        log(
          `restarted the dev server ${rel(fault.done)}: stopping took ${seconds(stopped - fault.done)} s, ` +
            `down ${seconds(fault.recovered - stopped)} s`,
        );
      }
      bench.checkWorkers();
    }
    const lastClose = firstEnd + (COHORTS - 1) * STEP_MS + LIFETIME_MS;
    await waitClosed(bench, ids, Math.min(deadline, Math.max(lastClose, Date.now()) + 120_000), 'faulted');
    log(`${COHORTS} cohorts closed ${seconds(Date.now() - lastClose)} s after the last one's grace end`);
    const states = await drain(bench, FAULTY_MODEL, 'faulted run');

    // Snapshots: exactly one revision 1 per cohort and checkpoint, in both batches.
    const histogram = await snapshotsPerCheckpoint(db, [...warmupIds, ...ids]);
    const exactlyOnce = histogram.size === 1 && histogram.get(1) === (COHORTS + WARMUP_COHORTS) * CHECKPOINTS.length;
    const unknown = histogram.has(-1) ? ' (-1: unknown checkpoints)' : '';
    log(
      `revision-1 snapshots per (cohort, checkpoint), as {count: how many}: ${JSON.stringify(Object.fromEntries(histogram))} ` +
        `over ${COHORTS + WARMUP_COHORTS} cohorts × ${CHECKPOINTS.length} checkpoints${unknown}`,
    );

    // Notifications: every cohort whose first snapshot is under the floor has its firing one.
    const expected = (await db('metric_snapshots')
      .whereIn('cohort_id', ids)
      .where({ checkpoint: 'PT2S', revision: 1 })
      .whereRaw(`(document->'overall'->>'recall')::float8 < ?`, [RECALL_FLOOR])
      .pluck('cohort_id')) as string[];
    const notifications = (await db('alert_notifications as n')
      .join('alerts as a', 'a.alert_id', 'n.alert_id')
      .where('a.model_name', FAULTY_MODEL)
      .select('a.cohort_id', 'n.transition', 'n.state', 'n.idempotency_key', 'n.attempts')) as Array<{
      cohort_id: string;
      transition: string;
      state: string;
      idempotency_key: string;
      attempts: number;
    }>;
    const fired = new Set(notifications.filter((n) => n.transition === 'firing').map((n) => n.cohort_id));
    const missing = expected.filter((id) => !fired.has(id)).length;
    const delivered = states.delivered ?? 0;
    const refused = states.refused ?? 0;
    const pending = states.pending ?? 0;
    const lost = pending + missing;
    log(
      `notifications: ${notifications.length} queued for ${expected.length} cohorts under the floor; ` +
        `${delivered} delivered, ${refused} refused, ${pending} still pending, ${states.expired ?? 0} expired, ${missing} never queued`,
    );

    log(
      receiverReport(
        receiver.calls.filter((c) => c.path === '/faulty'),
        notifications,
      ),
    );

    // Snapshot delays: the faulted run against the warm-up's, and apart from the faults' own windows.
    const delays = await snapshotTimings(db, ids);
    const baseline = summary((await snapshotTimings(db, warmupIds)).map((d) => d.delay));
    const faulted = summary(delays.map((d) => d.delay));
    // Which snapshots a worker kill or the server restart touched: pending while one struck, or
    // of a lifecycle whose history bears a fault's marks. The delay of the others is what the
    // receiver alone could have added.
    const histories = new Map(
      await mapLimit([...warmupIds, ...ids], 8, async (id) => [id, await bench.client.workflow.getHandle(id).fetchHistory()] as const),
    );
    const marks = new Map(ids.map((id) => [id, faultMarks(histories.get(id)!)]));
    const marked = (id: string) => {
      const m = marks.get(id)!;
      return m.workflowTasks + m.activities + m.lateTimers > 0;
    };
    const struck = (d: SnapshotTiming) => faults.some((f) => d.asOf <= f.recovered! && d.createdAt >= f.done!);
    const touched = (d: SnapshotTiming) => marked(d.id) || struck(d);
    const totals = sumMarks([...marks.values()]);
    const hit = delays.filter(touched).map((d) => d.delay);
    const untouched = delays.filter((d) => !touched(d)).map((d) => d.delay),
      apart = summary(untouched);
    log(`snapshot delay (created_at − as_of, s) of the warm-up: ${JSON.stringify(baseline)}`);
    log(`snapshot delay of the faulted run: ${JSON.stringify(faulted)} over ${delays.length} snapshots`);
    log(
      `  ${ids.filter(marked).length} of ${COHORTS} lifecycles bear a fault's marks (${totals.workflowTasks} workflow tasks ` +
        `timed out or failed, ${totals.activities} activity attempts timed out, failed or retried, ${totals.lateTimers} timers ` +
        `fired over 1 s late), ${delays.filter(struck).length} snapshots were pending while a fault struck; ` +
        `these ${hit.length} snapshots: ${JSON.stringify(summary(hit))}`,
    );
    log(`  the other ${untouched.length} snapshots, which no fault touched: ${JSON.stringify(apart)}`);
    const { behindFailing, behindHealthy } = receiverShare(
      delays.filter((d) => !touched(d)),
      notifications,
    );
    log(
      `  of those, the snapshots taken after the cohort's alert was queued: behind a failing or refusing receiver ` +
        `${JSON.stringify(behindFailing)}, behind one that answered 200 ${JSON.stringify(behindHealthy)}`,
    );
    const addedP99 = round(faulted.p99 - baseline.p99, 3);

    process.stdout.write(
      `${JSON.stringify({
        bench: 'faults',
        cohorts: COHORTS,
        snapshots_exactly_once: exactlyOnce,
        delivered,
        refused,
        lost,
        snapshot_delay_p99_s: faulted.p99,
        baseline_p99_s: baseline.p99,
        added_p99_s: addedP99,
        receiver_added_p99_s: round(behindFailing.p99 - behindHealthy.p99, 3),
        worker_kills: workerKills,
        server_restarts: serverRestarts,
        seconds: seconds(Date.now() - benchStarted),
      })}\n`,
    );
    if (!exactlyOnce || lost > 0) process.exitCode = 1;
    finished = true;
  } finally {
    await stopWorkers('SIGINT');
    await clientConnection?.close().catch(() => {});
    await server?.stop();
    await receiver?.close();
    await db.destroy();
    await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
    // The dev server's log and state stay for a look when the bench itself failed.
    if (finished) await rm(dir, { recursive: true, force: true });
    else log(`the dev server's log and state: ${dir}`);
    clearTimeout(hardStop);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:faults failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
