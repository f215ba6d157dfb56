import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { MODEL as FRAUD_MODEL } from '../../examples/fraud/generate';
import { migrate } from '../../sql/migrate';
import { createDatabase } from '../../workers/database';
import type { Env } from '../../workers/env';
import { readDevState, removeDevState, startServices, writeDevState, type RunningServices } from '../../workers/services';
import { createHindsightWorker } from '../../workers/worker';
import { cohortIdFor } from '../../contracts/cohort';
import { modelRefOf } from '../../contracts/model';
import { backfillCohortSchedule, createCohortSchedule, defaultScheduleId } from '../../control/cohort-schedules';
import { LIVE_COHORT_LIFETIME_MS, startLiveCohort } from '../live-cohort';
import { startCohortLifecycle } from '../../control/start-cohort';
import {
  FRAUD_HISTORY_WEEKS,
  prepareCredit,
  prepareFraud,
  prepareHomepage,
  prepareRecommendations,
  prepareReturns,
  readTimeline,
  type ExampleData,
} from './examples';
import { serveMetrics } from '../metrics-ports';
import { startDemoPipeline } from './pipeline';
import type { TaskList } from './progress';
import { summarizeDemo, writeReports, type DemoSummary } from './summary';
import { waitForClose, waitForCohorts, waitForDeliveries, waitForRecalibrations } from './wait';

export interface DemoOptions {
  keepRunning: boolean;
  dbPort: number;
  temporalPort: number;
  uiPort: number;
  pipelinePort: number;
  /** Hindsight's GET /metrics (0: a free port), printed at start. */
  metricsPort?: number;
}

/** Generous: on this project's 2-core machine the whole demo takes about two minutes. */
const SETTLE_TIMEOUT_MS = 8 * 60_000;
const ACTIONS_TIMEOUT_MS = 90_000;

type Services = RunningServices & { reused: boolean };

/** The running `hindsight dev`'s services when there is one; otherwise the same ones, started here. */
async function openServices(env: Env, options: DemoOptions): Promise<Services> {
  const dev = env.DATABASE_URL || env.TEMPORAL_ADDRESS ? undefined : readDevState(env);
  if (dev) {
    const db = createDatabase(dev.databaseUrl, { maxConnections: 1 });
    return {
      db,
      databaseUrl: dev.databaseUrl,
      embeddedDatabase: dev.embeddedDatabase,
      temporalAddress: dev.temporalAddress,
      uiUrl: dev.temporalUiUrl,
      reused: true,
      stop: () => db.destroy(),
    };
  }
  const started = await startServices(env, { db: options.dbPort, temporal: options.temporalPort, ui: options.uiPort }, () => {});
  return { ...started, reused: false };
}

/**
 * The whole loop on embedded services: four worked examples with their history in the past,
 * a weekly fraud schedule backfilled so its alerts, diagnoses, retraining request and
 * recalibration really happen, a live one-minute cohort, reports, and a summary.
 */
export async function runDemo(
  env: Env,
  options: DemoOptions,
  tasks: TaskList,
  present: (summary: DemoSummary) => void,
  waitForStop: () => Promise<void>,
): Promise<DemoSummary> {
  const root = path.resolve(env.HINDSIGHT_STATE_DIR, 'demo');
  await mkdir(root, { recursive: true });
  const now = Date.now();
  const timelineFile = path.join(root, 'timeline.json');
  const timeline = readTimeline(timelineFile, now);
  await writeFile(timelineFile, `${JSON.stringify(timeline)}\n`);

  const services = await tasks.run(
    'start the embedded services',
    () => openServices(env, options),
    (s) =>
      s.reused
        ? `reusing the running hindsight dev (${s.temporalAddress})`
        : `PGlite at ${s.databaseUrl.replace(/^postgres:\/\/postgres@/, '').replace(/\/.*$/, '')}, ` +
          `Temporal ${s.temporalAddress}${s.uiUrl ? `, Web UI ${s.uiUrl}` : ''}`,
  );
  const { db } = services;
  const pipeline = await startDemoPipeline(options.pipelinePort, path.join(root, 'pipeline-calls.json')).catch(async (error) => {
    await services.stop();
    throw error;
  });
  let connection: NativeConnection | undefined;
  let clientConnection: Connection | undefined;
  let stopWorker: () => Promise<void> = async () => {};
  let stopMetrics: () => Promise<void> = async () => {};
  try {
    await tasks.run('migrate the database', () => migrate(db));
    const metrics = await serveMetrics(db, '127.0.0.1', options.metricsPort ?? 0);
    stopMetrics = () => metrics.close();
    tasks.note(`  Prometheus metrics: ${metrics.url}`);
    if (!services.reused) {
      await writeDevState(env, {
        pid: process.pid,
        databaseUrl: services.databaseUrl,
        embeddedDatabase: services.embeddedDatabase,
        temporalAddress: services.temporalAddress,
        temporalUiUrl: services.uiUrl,
      });
    }
    connection = await NativeConnection.connect({ address: services.temporalAddress });
    const worker = await tasks.run('start the worker (bundling the workflows)', () =>
      createHindsightWorker({ connection: connection!, db, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.HINDSIGHT_TASK_QUEUE }),
    );
    const running = worker.run();
    stopWorker = async () => {
      // Ctrl-C has already begun the shutdown: the SDK handles the signal itself.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    };
    clientConnection = await Connection.connect({ address: services.temporalAddress });
    const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE });
    const taskQueue = env.HINDSIGHT_TASK_QUEUE;
    const link = (workflowId: string) =>
      services.uiUrl ? `${services.uiUrl}/namespaces/${env.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(workflowId)}` : workflowId;

    const live = await tasks.run(
      'start the live one-minute cohort',
      () => startLiveCohort(db, client, taskQueue, env.HINDSIGHT_STATE_DIR),
      (started) => started.cohort_id,
    );
    const liveClosesAt = Date.now() + LIVE_COHORT_LIFETIME_MS;
    tasks.note(`  watch it move through its stages: ${link(live.cohort_id)}`);

    const fraud = await tasks.run(
      'generate and ingest the fraud history (20 weeks, chargebacks 60–90 days late)',
      () => prepareFraud(db, root, timeline, now, pipeline.url),
      ingestedLine,
    );
    const others: ExampleData[] = [];
    for (const [title, prepare] of [
      ['recommendations (5% epsilon-greedy, logged propensities)', prepareRecommendations],
      ['the homepage ranking (three positions, each exploring on its own)', prepareHomepage],
      ['credit (denials hide the outcome, a randomized approval band)', prepareCredit],
      ['returns (a 45-day window, joined by order id)', prepareReturns],
    ] as const) {
      others.push(await tasks.run(`generate and ingest ${title}`, () => prepare(db, root, timeline, now), ingestedLine));
    }
    // Ingest analyzes only the months it loaded 10,000 rows into; the examples' smaller months
    // would have no planner statistics until autovacuum came by. Once, before any evaluation.
    await tasks.run('analyze the loaded tables', () => db.raw('analyze predictions, outcomes'));
    for (const data of others) {
      for (const cohort of data.cohorts) await startCohortLifecycle(client, taskQueue, cohort, data.definition);
    }

    const fraudSchedule = {
      model: modelRefOf(FRAUD_MODEL),
      definition: fraud.definition,
      every: 'P7D',
    };
    const scheduleId = defaultScheduleId(fraudSchedule);
    const fraudIds = fraud.cohorts.map((c) => cohortIdFor(c, fraud.definition));
    await tasks.run(
      'backfill the weekly fraud schedule: the finalized history first',
      async (task) => {
        try {
          await client.schedule.getHandle(scheduleId).describe();
        } catch (error) {
          if (!(error instanceof ScheduleNotFoundError)) throw error;
          await createCohortSchedule(client, { ...fraudSchedule, scheduleId, taskQueue });
        }
        // Oldest first: the later weeks' rules compare with the finalized weeks before them.
        const split = fraud.cohorts[FRAUD_HISTORY_WEEKS]!.start;
        await backfillCohortSchedule(client, scheduleId, fraud.cohorts[0]!.start, split);
        await waitForCohorts(
          client,
          fraudIds.slice(0, FRAUD_HISTORY_WEEKS),
          (n, total) => task.update(`${n} of ${total} weeks caught up`),
          SETTLE_TIMEOUT_MS,
        );
        task.update('the last quarter and the weeks before it');
        await backfillCohortSchedule(client, scheduleId, split, fraud.cohorts.at(-1)!.end);
        await waitForCohorts(client, fraudIds, (n, total) => task.update(`${n} of ${total} weeks caught up`), SETTLE_TIMEOUT_MS);
      },
      () => `${fraudIds.length} weekly cohorts evaluated at every checkpoint already past and judged by the policy`,
    );

    const otherIds = others.flatMap((data) => data.cohorts.map((c) => cohortIdFor(c, data.definition)));
    await tasks.run('wait for the recommendations, homepage, credit and returns cohorts', (task) =>
      waitForCohorts(client, otherIds, (n, total) => task.update(`${n} of ${total} caught up`), SETTLE_TIMEOUT_MS),
    );
    const actionsDeadline = Date.now() + ACTIONS_TIMEOUT_MS;
    const recalibrations = await tasks.run(
      'wait for the recalibration and the retraining request',
      async (task) => {
        while (!pipeline.calls().some((call) => call.path === '/retrain') && Date.now() < actionsDeadline) {
          task.update('waiting for the retraining webhook');
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        task.update('waiting for the recalibration workflow');
        return waitForRecalibrations(client, FRAUD_MODEL.model_name, actionsDeadline);
      },
      (runs) =>
        `${runs.length} recalibration(s), ${pipeline.calls().filter((c) => c.path === '/retrain').length} retraining request(s) received`,
    );

    if (!options.keepRunning) {
      await tasks.run('wait for the live cohort to close', (task) =>
        waitForClose(client, live.cohort_id, liveClosesAt + 60_000, (status) =>
          task.update(`${status.phase.replace(/_/g, ' ')}, ${status.snapshots.length} snapshot(s)`),
        ),
      );
    }
    await tasks.run(
      'wait for the alert notifications to be delivered',
      () => waitForDeliveries(db, Date.now() + 60_000),
      (pending) => (pending === 0 ? 'all delivered' : `${pending} still pending`),
    );
    const summary = await tasks.run('summarize and write the reports', async () => {
      const made = await summarizeDemo(db, {
        fraud,
        others,
        live: live.cohort_id,
        scheduleId,
        recalibrations,
        pipeline: pipeline.calls(),
        link,
        uiUrl: services.uiUrl,
        namespace: env.TEMPORAL_NAMESPACE,
      });
      made.reports = await writeReports(db, path.join(root, 'reports'), made.reportSubjects);
      return made;
    });
    summary.kept_running = options.keepRunning;
    summary.reused_services = services.reused;
    present(summary);
    if (options.keepRunning) {
      tasks.note(
        `the services and the worker keep running (Web UI ${services.uiUrl ?? 'not started: TEMPORAL_ADDRESS is set'}); Ctrl-C stops them`,
      );
      await waitForStop();
    }
    return summary;
  } finally {
    await stopAll([
      stopWorker,
      stopMetrics,
      async () => clientConnection?.close(),
      async () => connection?.close(),
      () => pipeline.close(),
      async () => (services.reused ? undefined : removeDevState(env)),
      () => services.stop(),
    ]);
  }
}

/** Runs every step even when one fails (said on stderr), so a failure cannot leave a service behind. */
async function stopAll(steps: Array<() => Promise<unknown>>): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      process.stderr.write(`hindsight: demo: while stopping: ${(error as Error).message}\n`);
    }
  }
}

function ingestedLine(data: ExampleData): string {
  const fresh = data.predictions.accepted + data.outcomes.accepted;
  const again = data.predictions.duplicates + data.outcomes.duplicates;
  const total = data.predictions.accepted + data.predictions.duplicates;
  return (
    `${total.toLocaleString('en-US')} predictions, ` +
    `${(data.outcomes.accepted + data.outcomes.duplicates).toLocaleString('en-US')} outcomes` +
    `${again > 0 && fresh === 0 ? ' (stored by an earlier run)' : ''}` +
    `${data.not_yet_arrived > 0 ? `; ${data.not_yet_arrived.toLocaleString('en-US')} not arrived yet` : ''}`
  );
}
