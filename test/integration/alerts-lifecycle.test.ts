import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { putPolicy } from '../../activities/monitoring/policy';
import { startCohortLifecycle } from '../../control/start-cohort';
import { cohortLifecycle } from '../../workflows';
import { feedWatch } from '../../workflows/feed-watch';
import { retrainingRequests } from '../../workflows/retraining-requests';
import type { RetrainingEvidence } from '../../contracts/monitoring';
import { useTestDatabase } from '../support/database';
import { runHindsight } from '../support/run-cli';
import { recordHistory, replay, startTestWorker, waitFor, type TestWorker } from '../support/temporal';
import { getRetrainingStateQuery, retrainingRequestedSignal, retrainingWorkflowId } from '../../contracts/retraining';

Runtime.install({ logger: new DefaultLogger('WARN') });
const testDb = useTestDatabase();
const hindsight = (args: string[]) => runHindsight(args, { DATABASE_URL: testDb.url, TEMPORAL_ADDRESS: inject('temporalAddress') });

interface Received {
  path: string;
  key: string | undefined;
  body: any;
}

/** A webhook receiver that answers 503 to the first alert call, so the activity must retry it. */
async function startReceiver(): Promise<{ server: Server; url: string; received: Received[]; refused: number }> {
  const state = { received: [] as Received[], refused: 0 };
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/alerts' && state.refused === 0) {
        state.refused++;
        response.writeHead(503).end();
        return;
      }
      state.received.push({
        path: request.url ?? '',
        key: request.headers['idempotency-key'] as string | undefined,
        body: JSON.parse(body),
      });
      response.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, { server, url });
}

describe('the cohort lifecycle acts on its monitoring policy', () => {
  let worker: TestWorker;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    worker = await startTestWorker(testDb.db);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await worker?.stop();
    receiver?.server.close();
  });

  it('retracts a provisional alert the final snapshot clears, notifies each transition once, and asks for retraining once per quiet period', async () => {
    testDb.keepOnFailure();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-alerts-'));
    const write = async (name: string, rows: object[]) => {
      const target = path.join(dir, `${name}.ndjson`);
      await writeFile(target, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
      return target;
    };
    const end = Math.ceil(Date.now() / 1000) * 1000 + 2_000;
    const start = end - 10_000;
    // Two cohorts of the same model (two environments), each with 80 of its 100 positives
    // caught; the 20 it misses charge back first, so at the checkpoint recall looks like 0.
    const predictions: Array<Record<string, unknown>> = [];
    const outcomes: object[] = [];
    for (const environment of ['production', 'canary']) {
      for (let i = 0; i < 200; i++) {
        const id = randomUUID();
        const ts = start + 40 * i;
        const positive = i % 2 === 0;
        const caught = positive && i % 10 !== 0;
        predictions.push({
          prediction_id: id,
          model_name: 'fraud-act',
          model_version: 'v1',
          environment,
          ts_pred: new Date(ts).toISOString(),
          score: caught ? 0.9 : positive ? 0.2 : 0.1,
        });
        if (positive) {
          const received = caught ? end + 9_000 : end + 1_000;
          outcomes.push({
            outcome_id: `cb-${id}`,
            prediction_id: id,
            outcome_type: 'chargeback',
            ts_event: new Date(ts + 100).toISOString(),
            ts_received: new Date(received).toISOString(),
          });
        }
      }
    }
    await ingestNdjsonFile(testDb.db, 'predictions', await write('predictions', predictions));
    await ingestNdjsonFile(testDb.db, 'outcomes', await write('outcomes', outcomes));
    const { definition } = await putLabelDefinition(testDb.db, {
      name: 'chargeback-act',
      version: 1,
      model_name: 'fraud-act',
      task: 'binary',
      window: 'PT14S',
      checkpoints: ['PT6S'],
      positive_outcome_types: ['chargeback'],
      late_label_grace: 'PT2S',
    });
    await putPolicy(testDb.db, {
      name: 'fraud-act-policy',
      version: 1,
      model_name: 'fraud-act',
      label_definition: 'chargeback-act',
      rules: [{ name: 'recall-floor', kind: 'floor', metric: 'recall', min: 0.5, severity: 'critical' }],
      notifications: { webhook: { url: `${receiver.url}/alerts` } },
      retraining: { rules: ['recall-floor'], quiet_period: 'P1D', hook: { webhook: { url: `${receiver.url}/retrain` } }, every: 'P1D' },
      recalibration: { rules: ['recall-floor'], every: 'P7D', train_periods: 2, holdout_periods: 1 },
    });

    const cohorts = [];
    for (const environment of ['production', 'canary']) {
      const selector = {
        model_name: 'fraud-act',
        model_version: 'v1',
        environment,
        start: new Date(start).toISOString(),
        end: new Date(end).toISOString(),
      };
      cohorts.push(await startCohortLifecycle(worker.client, worker.taskQueue, selector, definition, { lateLabelChecks: 1 }));
    }
    const results = await Promise.all(cohorts.map((c) => worker.client.workflow.getHandle<typeof cohortLifecycle>(c.cohort_id).result()));

    for (const result of results) {
      expect(result.snapshots.map((s) => [s.checkpoint, s.recall])).toEqual([
        ['PT6S', 0],
        ['final', 0.8],
      ]);
      // Fired on the provisional snapshot, retracted by the final one; the workflow shows it.
      expect(result.alerts).toEqual([
        expect.objectContaining({ rule: 'recall-floor', slice: 'overall', state: 'retracted', observed: 0.8, baseline: 0.5 }),
      ]);
    }

    // Each cohort's firing and retraction reached the webhook exactly once, the refused first
    // call retried under the same key (by the webhook's delivery workflow, which the cohorts
    // never wait for).
    await waitFor(
      async () => ((await testDb.db('alert_notifications').where({ state: 'pending' })).length === 0 ? true : undefined),
      30_000,
      'every notification delivered',
    );
    const alertCalls = receiver.received.filter((r) => r.path === '/alerts');
    expect(receiver.refused).toBe(1);
    expect(alertCalls.map((c) => [c.body.alert.cohort_id, c.body.transition]).sort()).toEqual(
      cohorts
        .flatMap((c) => [
          [c.cohort_id, 'firing'],
          [c.cohort_id, 'retracted'],
        ])
        .sort(),
    );
    expect(new Set(alertCalls.map((c) => c.key)).size).toBe(4);
    for (const call of alertCalls) expect(call.key).toBe(call.body.idempotency_key);
    const pending = await testDb.db('alert_notifications').whereNull('delivered_at');
    expect(pending).toEqual([]);

    // Both cohorts fired within the quiet period: one retraining call, carrying both.
    const retrainCalls = receiver.received.filter((r) => r.path === '/retrain');
    expect(retrainCalls).toHaveLength(1);
    expect(retrainCalls[0]!.key).toBe(`${retrainingWorkflowId('fraud-act')}-1`);
    const retraining = worker.client.workflow.getHandle(retrainingWorkflowId('fraud-act'));
    const state = await waitFor(
      async () => {
        const s = await retraining.query(getRetrainingStateQuery);
        return s.requests[0]?.cohorts.length === 2 ? s : undefined;
      },
      20_000,
      'both cohorts merged into the request',
    );
    expect(state.requests).toHaveLength(1);
    expect(state.requests[0]).toMatchObject({ status: 'retraining', modelVersion: 'v1', alerts: 2 });

    // Each firing alert started its recalibration once; with no finalized weeks behind these
    // cohorts there is nothing to fit, which the workflow says instead of promoting anything.
    const firstAlerts = await testDb.db('alerts').orderBy('alert_id').select('alert_id', 'cohort_id');
    for (const alert of firstAlerts) {
      const recalibration = worker.client.workflow.getHandle(`recalibration/fraud-act/v1/alert-${alert.alert_id}`);
      const state: any = await recalibration.result();
      expect(state.phase).toBe('failed');
      expect(state.reason).toMatch(/^fitting failed: the training range .* has no labeled/);
      expect(state.model).toEqual({ name: 'fraud-act', version: 'v1', environment: null });
    }

    const listed = await hindsight(['alerts', 'list', '--model', 'fraud-act', '--json']);
    expect(listed.code).toBe(0);
    const alerts = JSON.parse(listed.stdout).alerts;
    expect(alerts).toHaveLength(2);
    expect(alerts.every((a: any) => a.state === 'retracted' && a.checkpoint === 'final' && a.runbook === 'docs/runbooks/floor.md')).toBe(
      true,
    );
    // Paged: one at a time, the cursor of each page leading to the next, the last saying none follows.
    const firstPage = JSON.parse((await hindsight(['alerts', 'list', '--model', 'fraud-act', '--limit', '1', '--json'])).stdout);
    expect(firstPage.alerts.map((a: any) => a.alert_id)).toEqual([alerts[0].alert_id]);
    expect(firstPage.next_cursor).toBe(alerts[0].alert_id);
    const lastPage = JSON.parse(
      (await hindsight(['alerts', 'list', '--model', 'fraud-act', '--limit', '1', '--cursor', String(firstPage.next_cursor), '--json']))
        .stdout,
    );
    expect(lastPage).toMatchObject({ alerts: [expect.objectContaining({ alert_id: alerts[1].alert_id })], next_cursor: null });
    expect((await hindsight(['alerts', 'list', '--model', 'fraud-act', '--limit', '1'])).stdout).toContain(
      `more alerts follow: --cursor ${alerts[0].alert_id}`,
    );
    const status = JSON.parse((await hindsight(['cohort', 'status', cohorts[0]!.cohort_id, '--json'])).stdout);
    expect(status.alerts).toEqual([expect.objectContaining({ rule: 'recall-floor', state: 'retracted', checkpoint: 'final' })]);

    // The pipeline reports the new version: its cohorts get a schedule like the old one's.
    // Reported twice at once (v2 and v3): one completion is applied, the other refused, saying why.
    const [v2, v3] = await Promise.all([
      hindsight(['retraining', 'complete', '--model', 'fraud-act', '--new-version', 'v2', '--json']),
      hindsight(['retraining', 'complete', '--model', 'fraud-act', '--new-version', 'v3', '--json']),
    ]);
    expect([v2.code, v3.code].sort()).toEqual([0, 2]);
    const [completed, refused, version] = v2.code === 0 ? [v2, v3, 'v2'] : [v3, v2, 'v3'];
    expect(JSON.parse(completed.stdout)).toMatchObject({ new_version: version, request_id: `${retrainingWorkflowId('fraud-act')}-1` });
    expect(refused.stderr).toMatch(
      /refused: (version v\d of fraud-act is being completed already|model fraud-act has no retraining request waiting)/,
    );
    const done = await waitFor(
      async () => {
        const s = await retraining.query(getRetrainingStateQuery);
        return s.requests[0]?.status === 'completed' ? s : undefined;
      },
      20_000,
      'the completed request',
    );
    const scheduleId = done.requests[0]!.scheduleId!;
    expect(scheduleId).toBe(`schedule/fraud-act/${version}/*/chargeback-act@1/P1D`);
    const described = await worker.client.schedule.getHandle(scheduleId).describe();
    expect(described.memo?.hindsight).toMatchObject({
      model_name: 'fraud-act',
      model_version: version,
      label_definition: 'chargeback-act@1',
      every: 'P1D',
    });
    await worker.client.schedule.getHandle(scheduleId).delete();

    const cohortHistory = await worker.client.workflow.getHandle(cohorts[0]!.cohort_id).fetchHistory();
    const retrainingHistory = await retraining.fetchHistory();
    await replay(cohortHistory, 'cohort-with-alerts');
    await replay(retrainingHistory, 'retraining-requests');
    await recordHistory('cohort-lifecycle-alerts', cohortHistory);
    await recordHistory('retraining-requests', retrainingHistory);
    await retraining.terminate('test done');
  }, 120_000);

  it('skips retraining when the diagnosis blames the labels alone, and calls the hook for the next quality evidence', async () => {
    const evidence = (cohortId: string, verdict: string): RetrainingEvidence => ({
      model: 'fraud-skip',
      modelVersion: 'v3',
      cohortId,
      snapshotId: 1,
      checkpoint: 'final',
      policy: 'p@1',
      alerts: [{ alertId: 1, rule: 'recall-wow', slice: 'overall', observed: 0.6, baseline: 0.8 }],
      verdict,
      retrainOnLabeling: false,
      quietPeriod: 'P7D',
      quietPeriodMs: 7 * 86400_000,
      hook: { webhook: { url: `${receiver.url}/retrain-skip`, headers: {} } },
      every: 'P7D',
      labelDefinition: 'chargeback-act@1',
    });
    const workflowId = retrainingWorkflowId('fraud-skip');
    const start = (e: RetrainingEvidence) =>
      worker.client.workflow.signalWithStart(retrainingRequests, {
        workflowId,
        taskQueue: worker.taskQueue,
        args: [{ model: 'fraud-skip' }],
        signal: retrainingRequestedSignal,
        signalArgs: [e],
      });
    await start(evidence('cohort-labeling', 'labeling'));
    await start(evidence('cohort-quality', 'quality'));
    const handle = worker.client.workflow.getHandle(workflowId);
    const state = await waitFor(
      async () => {
        const s = await handle.query(getRetrainingStateQuery);
        return s.requests.length === 1 ? s : undefined;
      },
      20_000,
      'the quality request',
    );
    expect(state.skipped).toEqual([{ cohortId: 'cohort-labeling', reason: 'the diagnosis blames the labels alone' }]);
    expect(state.requests[0]!.cohorts).toEqual(['cohort-quality']);
    await waitFor(async () => (receiver.received.some((r) => r.path === '/retrain-skip') ? true : undefined), 20_000, 'the webhook call');
    expect(receiver.received.filter((r) => r.path === '/retrain-skip').map((r) => r.body.evidence.cohortId)).toEqual(['cohort-quality']);
    await handle.terminate('test done');

    // The other hook: the pipeline's own workflow type, started on its own task queue.
    const pipelineModel = 'fraud-pipeline';
    const pipelineId = retrainingWorkflowId(pipelineModel);
    await worker.client.workflow.signalWithStart(retrainingRequests, {
      workflowId: pipelineId,
      taskQueue: worker.taskQueue,
      args: [{ model: pipelineModel }],
      signal: retrainingRequestedSignal,
      signalArgs: [
        {
          ...evidence('cohort-pipeline', 'both'),
          model: pipelineModel,
          hook: { workflow: { type: 'retrainFraudModel', task_queue: 'ml-pipeline' } },
        },
      ],
    });
    const child = worker.client.workflow.getHandle(`${pipelineId}-1`);
    const started = await waitFor(async () => child.describe().catch(() => undefined), 20_000, "the pipeline's workflow");
    expect([started.type, started.taskQueue]).toEqual(['retrainFraudModel', 'ml-pipeline']);
    await child.terminate('test done');
    await worker.client.workflow.getHandle(pipelineId).terminate('test done');
  });

  it('policy watch schedules the feed checks on their own clock; a run fires the stalled feed alert', async () => {
    await putLabelDefinition(testDb.db, {
      name: 'review-watch',
      version: 1,
      model_name: 'fraud-watch',
      task: 'binary',
      window: 'P7D',
      positive_outcome_types: ['review-watch'],
    });
    await putPolicy(testDb.db, {
      name: 'watch-policy',
      version: 1,
      model_name: 'fraud-watch',
      label_definition: 'review-watch',
      rules: [{ name: 'reviews-flowing', kind: 'stalled_feed', max_silence: 'PT6H', check_every: 'PT2H' }],
    });
    const created = await runHindsight(['policy', 'watch', 'watch-policy', '--json'], {
      DATABASE_URL: testDb.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      HINDSIGHT_TASK_QUEUE: worker.taskQueue,
    });
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toEqual({ schedule_id: 'feed-watch/watch-policy', every: 'PT2H' });
    const schedule = worker.client.schedule.getHandle('feed-watch/watch-policy');
    const described = await schedule.describe();
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 2 * 3600_000 })]);
    await schedule.trigger();
    const run = await waitFor(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow, 20_000, 'the triggered run');
    const result = await worker.client.workflow.getHandle<typeof feedWatch>(run.workflowId).result();
    expect(result).toEqual({ stalled: ['review-watch'] });
    const alerts = await testDb.db('alerts').where({ policy_name: 'watch-policy' }).select('rule_kind', 'state', 'slice_value');
    expect(alerts).toEqual([{ rule_kind: 'stalled_feed', state: 'firing', slice_value: 'review-watch' }]);
    await schedule.delete();
  });
});
