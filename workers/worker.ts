import { existsSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, type InjectedSinks, type LogLevel } from '@temporalio/worker';
import type { Knex } from 'knex';
import { createActivities } from '../activities';
import type { LifecycleSinks } from '../workflows/lifecycle-sinks';

/** Called in the worker's process when a cohort stores a snapshot or closes (not on replay). */
export type LifecycleListener = LifecycleSinks['lifecycle'];

export interface HindsightWorkerOptions {
  connection: NativeConnection;
  db: Knex;
  namespace: string;
  taskQueue: string;
  listener?: LifecycleListener;
  /** Caps on concurrent tasks; the defaults suit one worker on a small machine. */
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
    activities: createActivities(options.db),
    sinks: lifecycleSinks(options.listener),
    ...(options.maxConcurrentActivityTaskExecutions ? { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions } : {}),
    ...(options.maxConcurrentWorkflowTaskExecutions ? { maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTaskExecutions } : {}),
    ...(options.maxCachedWorkflows ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
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

/** Installs the SDK runtime's logger once per process (the SDK allows only one install). */
export function installRuntimeLogger(level: LogLevel): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger(level) });
  runtimeInstalled = true;
}
