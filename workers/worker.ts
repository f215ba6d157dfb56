import { existsSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, type InjectedSinks, type LogLevel } from '@temporalio/worker';
import type { Knex } from 'knex';
import { createActivities } from '../activities';
import { defaultMonitoringDependencies } from '../activities/monitoring/dependencies';
import { createCalibrationActivities } from '../activities/temporal/calibration';
import type { LifecycleSinks } from '../contracts/lifecycle';
import { sqlFreeActivityFailures } from './activity-failures';

/**
 * One worker's task limits, chosen so that memory stays flat however many cohorts are open
 * (measured with `npm run bench:lifecycle` on 2 cores shared with Postgres and Temporal):
 * - maxCachedWorkflows 250: the SDK's default grows with the V8 heap (~2,300 here) and a
 *   cohort sleeps most of its life, so 10,000 of them would hold every state in memory;
 *   an evicted cohort replays its ~65 events when its next timer fires instead.
 * - maxConcurrentWorkflowTaskExecutions 16 (SDK default 40): more only contend for the
 *   cores and the server; 40 slots reached less than half this throughput in the bench.
 * - maxConcurrentActivityTaskExecutions 24, about two per pooled connection: more would only
 *   hold evaluations waiting for a connection (their heartbeat timeout running) instead of
 *   leaving them on the queue for another worker.
 */
export const WORKER_DEFAULTS = {
  maxCachedWorkflows: 250,
  maxConcurrentWorkflowTaskExecutions: 16,
  maxConcurrentActivityTaskExecutions: 24,
} as const;

/** Called in the worker's process when a cohort stores a snapshot or closes (not on replay). */
export type LifecycleListener = LifecycleSinks['lifecycle'];

export interface HindsightWorkerOptions {
  connection: NativeConnection;
  db: Knex;
  namespace: string;
  taskQueue: string;
  listener?: LifecycleListener;
  /** Caps on concurrent tasks and cached workflows; {@link WORKER_DEFAULTS} when absent. */
  maxConcurrentActivityTaskExecutions?: number;
  maxConcurrentWorkflowTaskExecutions?: number;
  maxCachedWorkflows?: number;
}

/**
 * Connects to `address`, runs a worker until it shuts down (Ctrl-C), and closes the
 * connection whatever happened. `onReady` runs once the worker exists, before it polls.
 */
export async function runHindsightWorker(
  options: Omit<HindsightWorkerOptions, 'connection'> & { address: string },
  onReady: () => Promise<void> = async () => {},
): Promise<void> {
  const connection = await NativeConnection.connect({ address: options.address });
  try {
    const worker = await createHindsightWorker({ ...options, connection });
    await onReady();
    await worker.run();
  } finally {
    await connection.close();
  }
}

/** The composition root of a worker: the database goes into the activities, workflows are bundled. */
export async function createHindsightWorker(options: HindsightWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath: resolveWorkflowsPath(),
    // The cohort lifecycle's, monitoring's and the recalibration workflow's activities (separate factories, distinct names).
    activities: { ...createActivities(options.db, defaultMonitoringDependencies), ...createCalibrationActivities(options.db) },
    sinks: lifecycleSinks(options.listener),
    interceptors: { activity: [sqlFreeActivityFailures] },
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? WORKER_DEFAULTS.maxConcurrentActivityTaskExecutions,
    maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTaskExecutions ?? WORKER_DEFAULTS.maxConcurrentWorkflowTaskExecutions,
    maxCachedWorkflows: options.maxCachedWorkflows ?? WORKER_DEFAULTS.maxCachedWorkflows,
  });
}

function lifecycleSinks(listener: LifecycleListener | undefined): InjectedSinks<LifecycleSinks> {
  return {
    lifecycle: {
      snapshotStored: { fn: (_info, cohortId, snapshot) => listener?.snapshotStored(cohortId, snapshot) },
      cohortClosed: { fn: (_info, cohortId, snapshots) => listener?.cohortClosed(cohortId, snapshots) },
    },
  };
}

/** What replaying a recorded history needs: the same bundle and sinks as a live worker. */
export function replayWorkerOptions(): { workflowsPath: string; sinks: InjectedSinks<LifecycleSinks> } {
  return { workflowsPath: resolveWorkflowsPath(), sinks: lifecycleSinks(undefined) };
}

/** The workflow bundle's entry: compiled JS under dist/, the TypeScript source under tests. */
export function resolveWorkflowsPath(): string {
  const dir = path.join(__dirname, '..', 'workflows');
  const entry = ['index.js', 'index.ts'].map((name) => path.join(dir, name)).find((file) => existsSync(file));
  if (!entry) throw new Error(`no workflows entry point in ${dir}`);
  return entry;
}

let runtimeInstalled = false;

/**
 * Installs the SDK runtime's logger once per process (the SDK allows only one install). The
 * native core's own messages (e.g. a slow workflow task) are forwarded to it at the same
 * level, so one setting governs everything the worker prints. With `prometheusBindAddress`
 * (`host:port`) the SDK also serves its worker metrics there, named as Prometheus would have
 * them (seconds, `_total` counters, unit suffixes; docs/dashboards.md).
 */
export function installRuntimeLogger(level: LogLevel, options: { prometheusBindAddress?: string } = {}): void {
  if (runtimeInstalled) return;
  const prometheus = options.prometheusBindAddress
    ? { bindAddress: options.prometheusBindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true }
    : undefined;
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: {
      logging: { filter: { core: level, other: level }, forward: {} },
      ...(prometheus ? { metrics: { prometheus } } : {}),
    },
  });
  runtimeInstalled = true;
}
