import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { putPolicy } from '../../activities/monitoring/policy';
import { webhookDestination } from '../../activities/delivery/outbox';
import { getRetrainingStateQuery, retrainingWorkflowId } from '../../contracts/retraining';
import { startCohortLifecycle } from '../../control/start-cohort';
import { ensureTemporalCli, findFreePort, startDevServer } from '../../workers/temporal-dev-server';
import { cohortLifecycle, getStatusQuery } from '../../workflows';
import { cohortStartOptions } from '../../contracts/cohort-start-options';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import { startTestWorker, waitFor, type TestWorker } from '../support/temporal';
import { eventTime, holdWrites, retryStartedAfter, spawnWorkerProcess, victimOf } from '../support/faults';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const testDb = useTestDatabase();

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

const holdSnapshotInserts = (db: Knex) => holdWrites(db, 'metric_snapshots', 'insert into "metric_snapshots"');

const spawnWorker = (taskQueue: string) => spawnWorkerProcess(testDb.url, inject('temporalAddress'), taskQueue);

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

  it('a worker killed inside a judgement: a second worker retries it within 15 s; one notification, one retraining request', async () => {
    testDb.keepOnFailure();
    const taskQueue = `faults-${randomUUID()}`;
    const children = [spawnWorker(taskQueue), spawnWorker(taskQueue)];
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        received.push(`${request.url} ${request.headers['idempotency-key']}`);
        response.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    try {
      const definition = { ...DEFINITION, name: 'chargeback-judged' };
      await putLabelDefinition(testDb.db, definition);
      await putPolicy(testDb.db, {
        name: 'faults-judged',
        version: 1,
        model_name: 'fraud-faults',
        label_definition: 'chargeback-judged',
        rules: [{ name: 'recall-perfect', kind: 'floor', metric: 'recall', min: 0.99 }],
        notifications: { webhook: { url: `${url}/alerts` } },
        retraining: { rules: ['recall-perfect'], quiet_period: 'P1D', hook: { webhook: { url: `${url}/retrain` } }, every: 'P1D' },
      });
      const selector = await seedCohort(testDb.db, 'kill-judgement', Date.now() - 60_000);
      const hold = await holdWrites(testDb.db, 'monitoring_judgements', 'insert into "monitoring_judgements"');
      const { cohort_id: cohortId } = await startCohortLifecycle(worker.client, taskQueue, selector, definition, { lateLabelChecks: 1 });
      await hold.waitingPid();
      const victim = await victimOf(worker.client, children, cohortId, 'applyMonitoringPolicy');
      expect(victim, 'the worker running the judgement').toBeDefined();
      victim!.kill('SIGKILL');
      const killedAt = Date.now();
      await hold.release();
      const result = await worker.client.workflow.getHandle<typeof cohortLifecycle>(cohortId).result();
      expect(result.snapshots.map((s) => s.checkpoint)).toEqual(['PT2S', 'final']);
      const after = await retryStartedAfter(worker.client, cohortId, 'applyMonitoringPolicy', killedAt);
      process.stderr.write(`[faults] judgement: retried ${(after / 1000).toFixed(1)} s after the worker was killed\n`);

      // Every alert transition notified once, under one key each; one retraining request.
      const notifications = await waitFor(async () => {
        const rows = await testDb
          .db('alert_notifications')
          .where({ url: `${url}/alerts` })
          .select('idempotency_key', 'state');
        return rows.length > 0 && rows.every((r) => r.state === 'delivered') ? rows : undefined;
      }, 30_000);
      const alertCalls = received.filter((r) => r.startsWith('/alerts '));
      expect(alertCalls.sort()).toEqual(notifications.map((n) => `/alerts ${n.idempotency_key}`).sort());
      const retraining = worker.client.workflow.getHandle(retrainingWorkflowId('fraud-faults'));
      const state = await waitFor(async () => {
        const s = await retraining.query(getRetrainingStateQuery).catch(() => undefined);
        return s && s.requests.length > 0 ? s : undefined;
      });
      expect(state.requests).toHaveLength(1);
      expect(received.filter((r) => r.startsWith('/retrain '))).toHaveLength(1);
      await retraining.terminate('test done');
    } finally {
      for (const child of children) child.kill('SIGKILL');
      receiver.close();
    }
  });

  it('a worker killed inside a delivery: a second worker retries it within 15 s; the notification is recorded delivered once', async () => {
    testDb.keepOnFailure();
    const taskQueue = `faults-${randomUUID()}`;
    const children = [spawnWorker(taskQueue), spawnWorker(taskQueue)];
    const received: string[] = [];
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const receiver = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        received.push(String(request.headers['idempotency-key']));
        // The first request is answered only once the test holds the outbox's writes.
        void (received.length === 1 ? gate : Promise.resolve()).then(() => response.writeHead(200).end('{}'));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    try {
      const definition = { ...DEFINITION, name: 'chargeback-delivered' };
      await putLabelDefinition(testDb.db, definition);
      await putPolicy(testDb.db, {
        name: 'faults-delivered',
        version: 1,
        model_name: 'fraud-faults',
        label_definition: 'chargeback-delivered',
        rules: [{ name: 'recall-perfect', kind: 'floor', metric: 'recall', min: 0.99 }],
        notifications: { webhook: { url } },
      });
      const selector = await seedCohort(testDb.db, 'kill-delivery', Date.now() - 60_000);
      await startCohortLifecycle(worker.client, taskQueue, selector, definition, { lateLabelChecks: 1 });
      await waitFor(async () => (received.length > 0 ? true : undefined), 30_000, 'the first delivery attempt');
      const hold = await holdWrites(testDb.db, 'alert_notifications', 'update "alert_notifications"');
      open();
      await hold.waitingPid();
      const deliveryId = `delivery/${webhookDestination(url)}`;
      const victim = await victimOf(worker.client, children, deliveryId, 'deliverNextNotification');
      expect(victim, 'the worker running the delivery').toBeDefined();
      victim!.kill('SIGKILL');
      const killedAt = Date.now();
      await hold.release();
      const rows = await waitFor(async () => {
        const found = await testDb.db('alert_notifications').where({ url }).select('idempotency_key', 'state', 'attempts');
        return found.length > 0 && found.every((r) => r.state === 'delivered') ? found : undefined;
      }, 60_000);
      const after = await retryStartedAfter(worker.client, deliveryId, 'deliverNextNotification', killedAt);
      process.stderr.write(`[faults] delivery: retried ${(after / 1000).toFixed(1)} s after the worker was killed\n`);
      // The attempt cut short was sent again under the same key (receivers drop a key they have seen); each is recorded once.
      expect(new Set(received)).toEqual(new Set(rows.map((r) => r.idempotency_key)));
      await worker.client.workflow
        .getHandle(deliveryId)
        .terminate('test done')
        .catch(() => {});
    } finally {
      for (const child of children) child.kill('SIGKILL');
      receiver.close();
    }
  });

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
