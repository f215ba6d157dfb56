import { NativeConnection, Worker } from '@temporalio/worker';
import type { Knex } from 'knex';
import { createActivities } from '../activities';

export interface HindsightWorkerOptions {
  connection: NativeConnection;
  db: Knex;
  namespace: string;
  taskQueue: string;
}

/** The composition root of a worker: the database goes into the activities, workflows are bundled. */
export async function createHindsightWorker(options: HindsightWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities(options.db),
  });
}
