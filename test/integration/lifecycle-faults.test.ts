import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { startCohortLifecycle } from '../../control/start-cohort';
import { ensureTemporalCli, findFreePort, startDevServer } from '../../workers/temporal-dev-server';
import { cohortLifecycle, getStatusQuery } from '../../workflows';
import { cohortStartOptions } from '../../contracts/cohort-start-options';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import { startTestWorker, waitFor, type TestWorker } from '../support/temporal';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const testDb = useTestDatabase();
const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');

const DEFINITION = {
  name: 'chargeback-faults',
  version: 1,
  model_name: 'fraud-faults',
  task: 'binary' as const,
  window: 'PT4S',
  checkpoints: ['PT2S'],
  positive_outcome_types: ['chargeback'],
  late_label_grace: 'PT1S',
};

/** A cohort of `model_version` whose end is `endMs`, with a few predictions and chargebacks. */
async function seedCohort(db: Knex, version: string, endMs: number) {
  const predictions = Array.from({ length: 20 }, (_, i) => ({
    prediction_id: randomUUID(),
    model_name: 'fraud-faults',
    model_version: version,
    ts_pred: new Date(endMs - 10_000 + i * 400).toISOString(),
    score: (i % 10) / 10,
  }));
  await storeRows(db, 'predictions', predictions);
  await storeRows(
    db,
    'outcomes',
    predictions
      .filter((_, i) => i % 4 === 0)
      .map((p) => ({
        outcome_id: `cb-${p.prediction_id}`,
        prediction_id: p.prediction_id,
        outcome_type: 'chargeback',
        ts_event: p.ts_pred,
        ts_received: p.ts_pred,
      })),
  );
  return {
    model_name: 'fraud-faults',
    model_version: version,
    environment: null,
    start: new Date(endMs - 10_000).toISOString(),
    end: new Date(endMs).toISOString(),
  };
}

/**
 * Holds back every snapshot insert (EXCLUSIVE allows the evaluation's reads, not its insert)
 * until `release`, so a fault can strike while an evaluation is in flight.
 */
async function holdSnapshotInserts(db: Knex): Promise<{ waitingPid(): Promise<number>; release(): Promise<void> }> {
  const trx = await db.transaction();
  await trx.raw('lock table metric_snapshots in exclusive mode');
  return {
    waitingPid: () =>
      waitFor(
        async () => {
          const { rows } = await db.raw(
            "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%insert into \"metric_snapshots\"%'",
          );
          return rows[0]?.pid as number | undefined;
        },
        30_000,
        'an evaluation blocked on its snapshot insert',
      ),
    release: async () => {
      await trx.commit();
    },
  };
}

/** `hindsight worker` in its own process, so it can be killed the way a host dies. */
function spawnWorker(taskQueue: string): ChildProcess {
  return spawn(process.execPath, [BIN, 'worker'], {
    env: {
      ...process.env,
      DATABASE_URL: testDb.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      HINDSIGHT_TASK_QUEUE: taskQueue,
      HINDSIGHT_LOG_LEVEL: 'ERROR',
    },
    stdio: 'ignore',
  });
}

const eventTime = (event: temporal.api.history.v1.IHistoryEvent) =>
  Number(event.eventTime!.seconds) * 1000 + Math.floor((event.eventTime!.nanos ?? 0) / 1e6);

describe('the cohort lifecycle survives faults', () => {
  let worker: TestWorker;
  beforeAll(async () => {
    worker = await startTestWorker(testDb.db);
    await putLabelDefinition(testDb.db, DEFINITION);
  });
  afterAll(async () => worker?.stop());

  for (const variant of ['restarted', 'already polling'] as const) {
    it(`a worker killed mid-evaluation: another (${variant}) retries within 20 s and the snapshot is stored once`, async () => {
      testDb.keepOnFailure();
      const taskQueue = `faults-${randomUUID()}`;
      const children = [spawnWorker(taskQueue), ...(variant === 'already polling' ? [spawnWorker(taskQueue)] : [])];
      try {
        const selector = await seedCohort(testDb.db, `kill-${variant.replace(' ', '-')}`, Date.now() - 60_000);
        const hold = await holdSnapshotInserts(testDb.db);
        const { cohort_id: cohortId } = await startCohortLifecycle(worker.client, taskQueue, selector, DEFINITION, { lateLabelChecks: 1 });
        const handle = worker.client.workflow.getHandle<typeof cohortLifecycle>(cohortId);
        await hold.waitingPid();
        const description = await handle.describe();
        const identity = description.raw.pendingActivities?.[0]?.lastWorkerIdentity ?? '';
        const victim = children.find((child) => identity.startsWith(`${child.pid}@`));
        expect(victim, `the worker running the evaluation (${identity})`).toBeDefined();
        victim!.kill('SIGKILL');
        const killedAt = Date.now();
        if (variant === 'restarted') children.push(spawnWorker(taskQueue));
        await hold.release();

        const result = await handle.result();
        expect(result.phase).toBe('closed');
        const rows = await testDb.db('metric_snapshots').where({ cohort_id: cohortId }).select('checkpoint', 'revision');
        expect(rows.map((r) => `${r.checkpoint}@${r.revision}`).sort()).toEqual(['PT2S@1', 'final@1']);
        const history = await handle.fetchHistory();
        const retried = history.events!.find((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
        expect(
          retried?.activityTaskStartedEventAttributes?.lastFailure?.message,
          'the evaluation retried after a heartbeat timeout',
        ).toMatch(/heartbeat/i);
        const completed = history.events!.find(
          (e) => Number(e.activityTaskCompletedEventAttributes?.startedEventId ?? -1) === Number(retried!.eventId),
        );
        expect(eventTime(completed!) - killedAt).toBeLessThan(20_000);
      } finally {
        for (const child of children) child.kill('SIGKILL');
      }
    });
  }

  it('an evaluation whose database connection is terminated retries and completes', async () => {
    testDb.keepOnFailure();
    const selector = await seedCohort(testDb.db, 'terminated', Date.now() - 60_000);
    const hold = await holdSnapshotInserts(testDb.db);
    const { cohort_id: cohortId } = await startCohortLifecycle(worker.client, worker.taskQueue, selector, DEFINITION, {
      lateLabelChecks: 1,
    });
    const pid = await hold.waitingPid();
    await testDb.db.raw('select pg_terminate_backend(?)', [pid]);
    await hold.release();
    const result = await worker.client.workflow.getHandle<typeof cohortLifecycle>(cohortId).result();
    expect(result.snapshots.map((s) => s.checkpoint)).toEqual(['PT2S', 'final']);
    const history = await worker.client.workflow.getHandle(cohortId).fetchHistory();
    const retried = history.events!.find((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    expect(retried?.activityTaskStartedEventAttributes?.lastFailure?.message).toMatch(/terminat/i);
    expect(Number((await testDb.db('metric_snapshots').where({ cohort_id: cohortId }).count({ n: '*' }))[0]!.n)).toBe(2);
  });

  it('the dev server stopped and started again on its state file: the waiting timer still fires and the lifecycle completes', async () => {
    testDb.keepOnFailure();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-restart-'));
    const port = await findFreePort();
    const serverOptions = { cliPath: ensureTemporalCli(), port, uiPort: false as const, dbFile: path.join(dir, 'temporal.db') };
    let server = await startDevServer(serverOptions);
    const own = await startTestWorker(testDb.db, { address: server.address });
    try {
      const selector = await seedCohort(testDb.db, 'server-restart', Date.now() + 1_000);
      const { cohort_id: cohortId } = await startCohortLifecycle(own.client, own.taskQueue, selector, DEFINITION, { lateLabelChecks: 1 });
      const handle = own.client.workflow.getHandle<typeof cohortLifecycle>(cohortId);
      await waitFor(
        async () => ((await handle.query(getStatusQuery)).phase === 'waiting_for_checkpoint' ? true : undefined),
        10_000,
        'the checkpoint wait',
      );
      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      server = await startDevServer(serverOptions);
      const result = await handle.result();
      expect(result.phase).toBe('closed');
      expect(result.snapshots.map((s) => [s.checkpoint, s.asOf])).toEqual([
        ['PT2S', new Date(Date.parse(selector.end) + 2_000).toISOString()],
        ['final', new Date(Date.parse(selector.end) + 4_000).toISOString()],
      ]);
    } finally {
      await own.stop();
      await server.stop();
    }
  });

  it('a missing label definition or one of another model fails the cohort at once with a message an operator understands', async () => {
    const selector = await seedCohort(testDb.db, 'misconfigured', Date.now() - 60_000);
    const missing = cohortStartOptions(selector, { ...DEFINITION, name: 'no-such-definition' });
    const { definition: other } = await putLabelDefinition(testDb.db, { ...DEFINITION, name: 'other-model', model_name: 'churn' });
    const foreign = cohortStartOptions(selector, other);
    for (const [options, message] of [
      [missing, 'label definition no-such-definition@1 not found'],
      [foreign, 'label definition other-model@1 labels model churn, not fraud-faults'],
    ] as const) {
      const startedAt = Date.now();
      const failure = await worker.client.workflow
        .execute(cohortLifecycle, { ...options, taskQueue: worker.taskQueue })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause?.cause as Error & { nonRetryable?: boolean };
      expect(cause.message).toContain(message);
      expect(cause.nonRetryable).toBe(true);
      expect(Date.now() - startedAt).toBeLessThan(10_000);
    }
  });
});
