/**
 * What bench:faults waits for and counts: cohorts closed, notifications drained by state,
 * revision-1 snapshots per checkpoint, and when each snapshot was due against when it was stored.
 */
import { startCohortLifecycle } from '../control/start-cohort';
import type { LabelDefinition } from '../contracts/label-definition';
import { COHORT_LIFECYCLE_WORKFLOW } from '../contracts/workflow-names';
import { answerClass } from './faults-support';
import { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { log, percentile, type Receiver, round, seconds, sleep } from './faults-support';
import { mapLimit } from './lifecycle-measures';

export const TASK_QUEUE = 'bench-faults';
export const CHECKPOINTS = ['PT2S', 'PT4S', 'final'];

export const DRAIN_MS = 120_000;

export type Fault = { kind: 'kill' | 'restart'; at: number; done?: number; recovered?: number };

export interface Bench {
  db: Knex;
  client: Client;
  receiver: Receiver;
  deadline: number;
  /** Fails the run if a worker exited that the bench did not kill. */
  checkWorkers(): void;
}

/** Waits for `ready` (polled every `everyMs`) until `until`; throws naming `what` when it never is. */
export async function waitUntilTrue(what: string, until: number, ready: () => Promise<boolean>, everyMs = 1_000): Promise<void> {
  for (;;) {
    if (await ready()) return;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until every one of `ids` has completed (visibility first, then each execution's own status). */
export async function waitClosed(bench: Bench, ids: string[], until: number, label: string): Promise<void> {
  const query = `WorkflowType = '${COHORT_LIFECYCLE_WORKFLOW}' AND TaskQueue = '${TASK_QUEUE}' AND ExecutionStatus = 'Running'`;
  let reported = 0;
  await waitUntilTrue(`the ${label} cohorts to close`, until, async () => {
    bench.checkWorkers();
    try {
      const { count } = await bench.client.workflow.count(query);
      if (Date.now() - reported > 10_000) {
        log(`  ${label}: ${count} lifecycles still running`);
        reported = Date.now();
      }
      if (count > 0) return false;
      const statuses = await mapLimit(ids, 16, async (id) => (await bench.client.workflow.getHandle(id).describe()).status.name);
      const open = statuses.filter((status) => status !== 'COMPLETED');
      if (open.some((status) => status !== 'RUNNING')) throw new Error(`${label} lifecycles ended ${[...new Set(open)].join(', ')}`);
      return open.length === 0;
    } catch (error) {
      if ((error as Error).message.includes('lifecycles ended')) throw error;
      return false; // the server is restarting: ask again
    }
  });
}

/** The destination's notifications of `model` by state, after waiting up to DRAIN_MS for the pending ones. */
export async function drain(bench: Bench, model: string, label: string): Promise<Record<string, number>> {
  const states = async () => {
    const rows = (await bench
      .db('alert_notifications as n')
      .join('alerts as a', 'a.alert_id', 'n.alert_id')
      .where('a.model_name', model)
      .groupBy('n.state')
      .select('n.state', bench.db.raw('count(*)::int as n'))) as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((row) => [row.state, row.n])) as Record<string, number>;
  };
  const until = Math.min(bench.deadline, Date.now() + DRAIN_MS);
  const started = Date.now();
  let last: Record<string, number> = {};
  await waitUntilTrue(`the ${label} notifications to drain`, until, async () => {
    last = await states();
    return !last.pending;
  }).catch(() => {});
  log(`${label} notifications after ${seconds(Date.now() - started)} s of draining: ${JSON.stringify(last)}`);
  return last;
}

/** Revision-1 snapshots per (cohort, checkpoint) of `ids`, zero counted too. */
export async function snapshotsPerCheckpoint(db: Knex, ids: string[]): Promise<Map<number, number>> {
  const rows = (await db('metric_snapshots')
    .whereIn('cohort_id', ids)
    .where('revision', 1)
    .groupBy('cohort_id', 'checkpoint')
    .select('cohort_id', 'checkpoint', db.raw('count(*)::int as n'))) as Array<{ cohort_id: string; checkpoint: string; n: number }>;
  const counts = new Map(rows.map((row) => [`${row.cohort_id}/${row.checkpoint}`, row.n]));
  const histogram = new Map<number, number>();
  for (const id of ids) {
    for (const checkpoint of CHECKPOINTS) {
      const n = counts.get(`${id}/${checkpoint}`) ?? 0;
      histogram.set(n, (histogram.get(n) ?? 0) + 1);
    }
  }
  const unexpected = rows.filter((row) => !CHECKPOINTS.includes(row.checkpoint));
  if (unexpected.length > 0) histogram.set(-1, unexpected.length);
  return histogram;
}

export interface SnapshotTiming {
  id: string;
  asOf: number;
  createdAt: number;
  /** created_at − as_of, in seconds. */
  delay: number;
}

/** When each revision-1 snapshot of `ids` was due and when it was stored. */
export async function snapshotTimings(db: Knex, ids: string[]): Promise<SnapshotTiming[]> {
  const rows = (await db('metric_snapshots')
    .whereIn('cohort_id', ids)
    .where('revision', 1)
    .select(
      'cohort_id',
      db.raw('extract(epoch from as_of)::float8 * 1000 as as_of'),
      db.raw('extract(epoch from created_at)::float8 * 1000 as created_at'),
    )) as Array<{ cohort_id: string; as_of: number; created_at: number }>;
  return rows.map((row) => ({ id: row.cohort_id, asOf: row.as_of, createdAt: row.created_at, delay: (row.created_at - row.as_of) / 1000 }));
}

export const summary = (values: number[]) => ({
  p50: round(percentile(values, 50), 3),
  p99: round(percentile(values, 99), 3),
  max: round(Math.max(0, ...values), 3),
});

/** Starts one lifecycle per version of `model`, the first ending at `firstEnd`, the others `stepMs` apart. */
export async function startCohorts(
  client: Client,
  taskQueue: string,
  stepMs: number,
  definition: LabelDefinition,
  model: string,
  versions: string[],
  loadedAt: number,
  firstEnd: number,
): Promise<string[]> {
  const started = await mapLimit(versions, 16, (version, i) =>
    startCohortLifecycle(
      client,
      taskQueue,
      {
        model_name: model,
        model_version: version,
        environment: 'production',
        start: new Date(loadedAt - 60_000).toISOString(),
        end: new Date(firstEnd + i * stepMs).toISOString(),
      },
      definition,
      { lateLabelChecks: 1 },
    ),
  );
  return started.map((c) => c.cohort_id);
}

/** What the receiver saw, against what the outbox recorded: a line for the log. */
export function receiverReport(
  calls: Array<{ key: string; status: number }>,
  notifications: Array<{ idempotency_key: string; state: string }>,
): string {
  const byKey = new Map<string, number[]>();
  for (const call of calls) byKey.set(call.key, [...(byKey.get(call.key) ?? []), call.status]);
  const classes = { '500': 0, '404': 0, '200': 0 };
  for (const key of byKey.keys()) classes[answerClass(key).kind]++;
  const duplicates = [...byKey.values()].filter((statuses) => statuses.filter((s) => s === 200).length > 1).length;
  const disagreements = notifications.filter((n) => {
    const seen = byKey.get(n.idempotency_key) ?? [];
    return (n.state === 'delivered' && !seen.includes(200)) || (n.state === 'refused' && !seen.includes(404));
  }).length;
  return (
    `receiver: ${calls.length} requests for ${byKey.size} keys (first answers by class: ${JSON.stringify(classes)}), ` +
    `${calls.filter((c) => c.status === 500).length}× 500; keys answered 200 more than once: ${duplicates}; ` +
    `outbox states the receiver's log contradicts: ${disagreements}`
  );
}

/**
 * The failing receiver's share of the snapshot delay, under the same load: of `untouched`
 * snapshots (no kill or restart near them), those a cohort took after its alert was queued,
 * split by whether the receiver answered that alert 500 or 404 or took it at once.
 */
export function receiverShare(
  untouched: SnapshotTiming[],
  notifications: Array<{ cohort_id: string; idempotency_key: string }>,
): { behindFailing: ReturnType<typeof summary>; behindHealthy: ReturnType<typeof summary> } {
  const failing = new Set(notifications.filter((n) => answerClass(n.idempotency_key).kind !== '200').map((n) => n.cohort_id));
  const alerted = new Set(notifications.map((n) => n.cohort_id));
  const firstAsOf = new Map<string, number>();
  for (const d of untouched) firstAsOf.set(d.id, Math.min(firstAsOf.get(d.id) ?? Infinity, d.asOf));
  const afterAlert = untouched.filter((d) => alerted.has(d.id) && d.asOf > firstAsOf.get(d.id)!);
  return {
    behindFailing: summary(afterAlert.filter((d) => failing.has(d.id)).map((d) => d.delay)),
    behindHealthy: summary(afterAlert.filter((d) => !failing.has(d.id)).map((d) => d.delay)),
  };
}
