/**
 * Faults for the integration tests: a worker in its own process to SIGKILL, writes to a table
 * held back so a kill strikes while an activity is in flight, and from a workflow's history
 * who ran an activity and how soon it was retried.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Knex } from 'knex';
import { expect } from 'vitest';
import { waitFor } from './temporal';

const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');

/**
 * Holds back every write to `table` (EXCLUSIVE allows reads, not writes) until `release`, so a
 * fault can strike while an activity is in flight; `waitingPid` finds the blocked statement.
 */
export async function holdWrites(
  db: Knex,
  table: string,
  statement: string,
): Promise<{ waitingPid(): Promise<number>; release(): Promise<void> }> {
  const trx = await db.transaction();
  await trx.raw(`lock table ${table} in exclusive mode`);
  return {
    waitingPid: () =>
      waitFor(
        async () => {
          const { rows } = await db.raw(
            "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike :pattern",
            { pattern: `%${statement}%` },
          );
          return rows[0]?.pid as number | undefined;
        },
        30_000,
        `an activity blocked on ${statement}`,
      ),
    release: async () => {
      await trx.commit();
    },
  };
}

/** `hindsight worker` in its own process, so it can be killed the way a host dies. */
export function spawnWorkerProcess(databaseUrl: string, address: string, taskQueue: string): ChildProcess {
  return spawn(process.execPath, [BIN, 'worker'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: address,
      HINDSIGHT_TASK_QUEUE: taskQueue,
      HINDSIGHT_LOG_LEVEL: 'ERROR',
    },
    stdio: 'ignore',
  });
}

export const eventTime = (event: temporal.api.history.v1.IHistoryEvent) =>
  Number(event.eventTime!.seconds) * 1000 + Math.floor((event.eventTime!.nanos ?? 0) / 1e6);

/** The worker (of `children`) running `activity` of workflow `workflowId` when it blocked. */
export const victimOf = async (client: Client, children: ChildProcess[], workflowId: string, activity: string) => {
  const description = await client.workflow.getHandle(workflowId).describe();
  const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === activity);
  const identity = pending?.lastWorkerIdentity ?? '';
  return children.find((child) => identity.startsWith(`${child.pid}@`));
};
/** How long after `killedAt` the retried attempt of `activity` started, from the history (waiting for it). */
export const retryStartedAfter = async (client: Client, workflowId: string, activity: string, killedAt: number) => {
  const retried = await waitFor(
    async () => {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const scheduled = new Set(
        history
          .events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity)
          .map((e) => Number(e.eventId)),
      );
      return history.events!.find(
        (e) =>
          scheduled.has(Number(e.activityTaskStartedEventAttributes?.scheduledEventId ?? -1)) &&
          (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
      );
    },
    30_000,
    `the retried ${activity}`,
  );
  expect(retried.activityTaskStartedEventAttributes?.lastFailure?.message, `${activity} retried after a timeout`).toMatch(
    /timeout|heartbeat/i,
  );
  return eventTime(retried) - killedAt;
};
