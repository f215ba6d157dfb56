import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Knex } from 'knex';
import { inject } from 'vitest';
import { createHindsightWorker, replayWorkerOptions, type LifecycleListener } from '../../workers/worker';

export interface TestWorker {
  client: Client;
  taskQueue: string;
  stop(): Promise<void>;
}

/** A real worker on its own task queue of the run's dev server, and a client for it. */
export async function startTestWorker(db: Knex, options: { address?: string; listener?: LifecycleListener } = {}): Promise<TestWorker> {
  const address = options.address ?? inject('temporalAddress');
  const taskQueue = `test-${randomUUID()}`;
  const connection = await NativeConnection.connect({ address });
  const clientConnection = await Connection.connect({ address });
  const worker = await createHindsightWorker({
    connection,
    db,
    namespace: 'default',
    taskQueue,
    ...(options.listener ? { listener: options.listener } : {}),
  });
  const running = worker.run();
  return {
    client: new Client({ connection: clientConnection }),
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await clientConnection.close();
      await connection.close();
    },
  };
}

/** The summaries an operator reads next to each timer and activity (not the workflow's own) in the history. */
export function historySummaries(history: temporal.api.history.v1.IHistory): string[] {
  return (history.events ?? [])
    .filter((event) => !event.workflowExecutionStartedEventAttributes)
    .map((event) => event.userMetadata?.summary)
    .filter((payload): payload is temporal.api.common.v1.IPayload => Boolean(payload))
    .map((payload) => defaultPayloadConverter.fromPayload<string>(payload));
}

/** Saves a history for the replay tests when HINDSIGHT_RECORD_HISTORY is set (binary, as the server sent it). */
export async function recordHistory(name: string, history: temporal.api.history.v1.IHistory): Promise<void> {
  if (!process.env.HINDSIGHT_RECORD_HISTORY) return;
  const file = path.join(__dirname, '..', 'fixtures', 'histories', `${name}.history.bin`);
  await writeFile(file, temporal.api.history.v1.History.encode(history).finish());
}

/** Replays a live history against the current workflow code, as the replay tests do. */
export async function replay(history: temporal.api.history.v1.IHistory, workflowId: string): Promise<void> {
  await Worker.runReplayHistory(replayWorkerOptions(), history, workflowId);
}

/** Polls `probe` until it returns a value other than undefined (visibility is eventually consistent). */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
