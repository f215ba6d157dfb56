import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { registerCohort } from '../../activities/evaluate/cohorts';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { webhookDestination } from '../../activities/delivery/outbox';
import { applyMonitoringPolicy, type JudgementProgress } from '../../activities/monitoring/apply-policy';
import { defaultMonitoringDependencies } from '../../activities/monitoring/dependencies';
import { putPolicy } from '../../activities/monitoring/policy';
import { createLifecycleActivities } from '../../activities/temporal/lifecycle';
import type { LabelDefinition } from '../../contracts/label-definition';
import type { CohortStatus } from '../../contracts/lifecycle';
import { getRetrainingStateQuery, retrainingWorkflowId } from '../../contracts/retraining';
import { startCohortLifecycle } from '../../control/start-cohort';
import { pagerDutyEventSchema, slackMessageSchema } from '../support/channel-schemas';
import { useTestDatabase } from '../support/database';
import { runHindsight } from '../support/run-cli';
import { recordHistory, replay, startTestWorker, waitFor, type TestWorker } from '../support/temporal';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const testDb = useTestDatabase();
const hindsight = (args: string[]) => runHindsight(args, { DATABASE_URL: testDb.url, TEMPORAL_ADDRESS: inject('temporalAddress') });

interface Call {
  path: string;
  key: string;
  at: number;
  answered: number;
  body: string;
}

/** A receiver whose answer each test chooses per path; it records every call and what it answered. */
async function startReceiver() {
  type Answer = { status: number; delayMs?: number; headers?: Record<string, string> };
  const answers = new Map<string, (call: Call) => Answer>();
  const calls: Call[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const call: Call = { path: request.url ?? '', key: String(request.headers['idempotency-key']), at: Date.now(), answered: 0, body };
      const answer: Answer = (answers.get(call.path) ?? (() => ({ status: 200 })))(call);
      call.answered = answer.status;
      calls.push(call);
      setTimeout(() => response.writeHead(answer.status, answer.headers ?? {}).end('{}'), answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, calls, answers };
}

/**
 * A cohort ending 2 s from now whose recall is 0 at its PT6S checkpoint (the misses' labels
 * arrive first) and 0.8 at its final snapshot: a recall floor fires, then is retracted.
 */
async function seedCohort(model: string, options: { previous?: boolean } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-delivery-'));
  const end = Math.ceil(Date.now() / 1000) * 1000 + 2_000;
  const start = end - 10_000;
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const periods = options.previous ? [start - 10_000, start] : [start];
  for (const periodStart of periods) {
    for (let i = 0; i < 200; i++) {
      const id = randomUUID();
      const ts = periodStart + 40 * i;
      const positive = i % 2 === 0;
      const caught = positive && i % 10 !== 0;
      predictions.push({
        prediction_id: id,
        model_name: model,
        model_version: 'v1',
        environment: 'production',
        ts_pred: new Date(ts).toISOString(),
        score: caught ? 0.9 : positive ? 0.2 : 0.1,
        // Only the later period carries `amount`: a score_psi rule on it cannot be judged against the earlier one.
        ...(options.previous && periodStart === start ? { features: { amount: i } } : {}),
      });
      if (positive) {
        outcomes.push({
          outcome_id: `cb-${id}`,
          prediction_id: id,
          outcome_type: 'chargeback',
          ts_event: new Date(ts + 100).toISOString(),
          ts_received: new Date(caught ? end + 9_000 : end + 1_000).toISOString(),
        });
      }
    }
  }
  const write = async (name: string, rows: object[]) => {
    const target = path.join(dir, `${name}.ndjson`);
    await writeFile(target, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    return target;
  };
  await ingestNdjsonFile(testDb.db, 'predictions', await write('predictions', predictions));
  await ingestNdjsonFile(testDb.db, 'outcomes', await write('outcomes', outcomes));
  const { definition } = await putLabelDefinition(testDb.db, {
    name: `${model}-chargeback`,
    version: 1,
    model_name: model,
    task: 'binary',
    window: 'PT14S',
    checkpoints: ['PT6S'],
    positive_outcome_types: ['chargeback'],
    late_label_grace: 'PT2S',
  });
  const selector = {
    model_name: model,
    model_version: 'v1',
    environment: 'production',
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
  };
  if (options.previous) {
    const previous = { ...selector, start: new Date(start - 10_000).toISOString(), end: new Date(start).toISOString() };
    const cohortId = `previous-${model}`;
    await registerCohort(testDb.db, {
      ...previous,
      cohort_id: cohortId,
      label_definition_name: definition.name,
      label_definition_version: 1,
    });
  }
  return { selector, definition, end };
}

async function runCohort(worker: TestWorker, selector: object, definition: LabelDefinition): Promise<CohortStatus> {
  const started = await startCohortLifecycle(worker.client, worker.taskQueue, selector as never, definition, { lateLabelChecks: 1 });
  return worker.client.workflow.getHandle(started.cohort_id).result() as Promise<CohortStatus>;
}

/** Each snapshot was stored within a few seconds of its as-of: nothing held it back. */
async function expectSnapshotsOnTime(cohortId: string): Promise<void> {
  const rows = await testDb.db('metric_snapshots').where({ cohort_id: cohortId }).select('checkpoint', 'as_of', 'created_at');
  expect(rows.map((r) => r.checkpoint).sort()).toEqual(['PT6S', 'final']);
  for (const row of rows) expect(new Date(row.created_at).getTime() - new Date(row.as_of).getTime()).toBeLessThan(8_000);
}

const refusedDestination = (url: string) => webhookDestination(`${url}/gone`);

const notificationsOf = (model: string) =>
  testDb
    .db('alert_notifications as n')
    .join('alerts as a', 'a.alert_id', 'n.alert_id')
    .where('a.model_name', model)
    .orderBy('n.created_at')
    .select('n.idempotency_key', 'n.transition', 'n.state', 'n.attempts', 'n.last_status', 'n.last_error');

const policy = (model: string, url: string, extra: object = {}) => ({
  name: `${model}-policy`,
  version: 1,
  model_name: model,
  label_definition: `${model}-chargeback`,
  rules: [{ name: 'recall-floor', kind: 'floor', metric: 'recall', min: 0.5, severity: 'critical' }],
  notifications: { webhook: { url } },
  ...extra,
});

describe('side effects never hold back a measurement', () => {
  let worker: TestWorker;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  /** Every scenario's cohort runs at once (they take ~15 s each); each test awaits its own. */
  const runs = new Map<string, Promise<CohortStatus>>();
  let flakyEnd = 0;
  beforeAll(async () => {
    worker = await startTestWorker(testDb.db);
    receiver = await startReceiver();
    const start = async (model: string, url: string, extra: object = {}, options: { previous?: boolean } = {}) => {
      const { selector, definition, end } = await seedCohort(model, options);
      await putPolicy(testDb.db, { ...policy(model, url), ...extra });
      const run = runCohort(worker, selector, definition);
      run.catch(() => {}); // awaited, and reported, by its own test
      runs.set(model, run);
      return end;
    };
    receiver.answers.set('/gone', () => ({ status: 404 }));
    receiver.answers.set('/gone-retrain', () => ({ status: 410 }));
    await start('delivery-404', `${receiver.url}/gone`, {
      retraining: {
        rules: ['recall-floor'],
        quiet_period: 'P1D',
        hook: { webhook: { url: `${receiver.url}/gone-retrain` } },
        every: 'P1D',
      },
    });
    // Down from before the first alert (at the PT6S checkpoint) until 5 s after it.
    receiver.answers.set('/flaky', () => ({ status: Date.now() < flakyEnd + 11_000 ? 500 : 200 }));
    flakyEnd = await start('delivery-500', `${receiver.url}/flaky`);
    await start(
      'delivery-error',
      `${receiver.url}/errors`,
      {
        rules: [
          { name: 'psi', kind: 'score_psi', max: 0.2, features: ['amount'] },
          { name: 'recall-floor', kind: 'floor', metric: 'recall', min: 0.5, severity: 'critical' },
        ],
      },
      { previous: true },
    );
    receiver.answers.set('/down-retrain', () => ({ status: 503 }));
    await start('delivery-hook-down', `${receiver.url}/errors`, {
      retraining: {
        rules: ['recall-floor'],
        quiet_period: 'P1D',
        hook: { webhook: { url: `${receiver.url}/down-retrain` } },
        every: 'P1D',
      },
    });
    receiver.answers.set('/slow', () => ({ status: 200, delayMs: 9_000 }));
    await start('delivery-slow', `${receiver.url}/slow`);
    receiver.answers.set('/moved', () => ({ status: 307, headers: { location: `${receiver.url}/elsewhere?token=secret` } }));
    await start('delivery-redirect', `${receiver.url}/moved`);
    // Slack and PagerDuty beside no webhook, their URL and routing key in the worker's environment.
    process.env.HS_TEST_SLACK_URL = `${receiver.url}/slack/T0001/B0001/hook-secret`;
    process.env.HS_TEST_PD_KEY = 'R0UTINGKEY0123456789abcdefABCDEF';
    receiver.answers.set('/pd/v2/enqueue', () => ({ status: 202 }));
    await start('delivery-channels', `${receiver.url}/unused`, {
      notifications: {
        slack: { url_from_env: 'HS_TEST_SLACK_URL', runbook_base_url: 'https://git.example.com/hindsight/blob/main' },
        pagerduty: { routing_key_from_env: 'HS_TEST_PD_KEY', url: `${receiver.url}/pd/v2/enqueue` },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
    receiver?.server.close();
  });

  it('a receiver answering 404: every snapshot on time, each notification refused once; a refused retraining hook is parked', async () => {
    testDb.keepOnFailure();
    const result = await runs.get('delivery-404')!;
    expect(result.snapshots.map((s) => s.checkpoint)).toEqual(['PT6S', 'final']);
    await expectSnapshotsOnTime(result.cohortId);

    const refused = await waitFor(async () => {
      const rows = await notificationsOf('delivery-404');
      return rows.length === 2 && rows.every((r) => r.state === 'refused') ? rows : undefined;
    });
    expect(refused.map((r) => [r.transition, r.attempts, r.last_status])).toEqual([
      ['firing', 1, 404],
      ['retracted', 1, 404],
    ]);
    expect(refused[0]!.last_error).toBe(`${receiver.url}/gone answered 404; not retried`);
    expect(receiver.calls.filter((c) => c.path === '/gone')).toHaveLength(2);
    const status = JSON.parse((await hindsight(['cohort', 'status', result.cohortId, '--json'])).stdout);
    expect(status.deliveries).toMatchObject({
      total: 2,
      refused: 2,
      pending: 0,
      last_error: `${receiver.url}/gone answered 404; not retried`,
    });

    // `alerts list` says where each alert's notifications stand, in JSON and in text.
    const listed = JSON.parse((await hindsight(['alerts', 'list', '--model', 'delivery-404', '--json'])).stdout);
    expect(listed.next_cursor).toBeNull();
    expect(
      listed.alerts[0].deliveries.map((d: { transition: string; state: string; last_status: number }) => [
        d.transition,
        d.state,
        d.last_status,
      ]),
    ).toEqual([
      ['firing', 'refused', 404],
      ['retracted', 'refused', 404],
    ]);
    expect(listed.alerts[0].deliveries[0].destination).toBe(`${receiver.url}/gone`);
    expect((await hindsight(['alerts', 'list', '--model', 'delivery-404'])).stdout).toContain(
      'notified: firing refused 404, retracted refused 404',
    );
    // The cohort's Web UI details (as of its last judgement) and the delivery workflow's own say so.
    const cohortDetails = await worker.client.workflow
      .getHandle(result.cohortId)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(cohortDetails.currentDetails).toContain('refused by their receiver or expired');
    const deliveryDetails = await worker.client.workflow
      .getHandle(`delivery/${refusedDestination(receiver.url)}`)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(deliveryDetails.currentDetails).toContain(`## Alert delivery to ${receiver.url}/gone`);
    expect(deliveryDetails.currentDetails).toContain('2 refused');
    expect(deliveryDetails.currentDetails).toContain(`Last problem: ${receiver.url}/gone answered 404; not retried`);

    // The retraining workflow keeps running, its request parked with the reason.
    const retraining = worker.client.workflow.getHandle(retrainingWorkflowId('delivery-404'));
    const state = await waitFor(async () => {
      const s = await retraining.query(getRetrainingStateQuery);
      return s.requests[0]?.status === 'hook_failed' ? s : undefined;
    });
    expect(state.requests[0]!.hookError).toMatch(/gone-retrain answered 410; not retried/);
    expect((await retraining.describe()).status.name).toBe('RUNNING');

    const delivery = worker.client.workflow.getHandle(`delivery/${refusedDestination(receiver.url)}`);
    const histories = {
      'cohort-lifecycle-delivery': await worker.client.workflow.getHandle(result.cohortId).fetchHistory(),
      'retraining-requests-hook-failed': await retraining.fetchHistory(),
      'alert-delivery-refused': await delivery.fetchHistory(),
    };
    for (const [name, history] of Object.entries(histories)) {
      await replay(history, name);
      await recordHistory(name, history);
    }
    await retraining.terminate('test done');
    await delivery.terminate('test done').catch(() => {});
  }, 90_000);

  it('a receiver failing with 500 for 5 s: every snapshot on time, each notification delivered once after it recovers, under its key', async () => {
    testDb.keepOnFailure();
    const result = await runs.get('delivery-500')!;
    await expectSnapshotsOnTime(result.cohortId);

    const delivered = await waitFor(async () => {
      const rows = await notificationsOf('delivery-500');
      return rows.length === 2 && rows.every((r) => r.state === 'delivered') ? rows : undefined;
    }, 60_000);
    const accepted = receiver.calls.filter((c) => c.path === '/flaky' && c.answered === 200);
    expect(accepted.map((c) => c.key)).toEqual(delivered.map((r) => r.idempotency_key));
    expect(receiver.calls.filter((c) => c.path === '/flaky' && c.answered === 500).length).toBeGreaterThan(0);
    expect(delivered[0]!.attempts).toBeGreaterThan(1);
  }, 90_000);

  it('a judgement retried after it was recorded writes nothing new and hands on the same asks', async () => {
    await runs.get('delivery-404');
    const cohort = await testDb.db('cohorts').where({ model_name: 'delivery-404' }).first('cohort_id');
    const snapshot = await testDb.db('metric_snapshots').where({ cohort_id: cohort.cohort_id, checkpoint: 'PT6S' }).first('snapshot_id');
    const before = await notificationsOf('delivery-404');
    const again = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, {
      cohortId: cohort.cohort_id,
      snapshotId: Number(snapshot.snapshot_id),
    });
    // The first judgement of this snapshot asked for retraining on the alert it fired: so does the retry.
    expect(again.retraining).toMatchObject({ model: 'delivery-404', cohortId: cohort.cohort_id, checkpoint: 'PT6S' });
    expect(again.retraining!.alerts).toEqual([expect.objectContaining({ rule: 'recall-floor', slice: 'overall', observed: 0 })]);
    expect(await notificationsOf('delivery-404')).toEqual(before);
  });

  it('a judgement retried after a lost worker resumes from its heartbeat checkpoint: the rules it judged are not judged again', async () => {
    await runs.get('delivery-404');
    const cohort = await testDb.db('cohorts').where({ model_name: 'delivery-404' }).first('cohort_id');
    const snapshot = await testDb.db('metric_snapshots').where({ cohort_id: cohort.cohort_id, checkpoint: 'PT6S' }).first('snapshot_id');
    const moment = `snapshot ${snapshot.snapshot_id}`;
    const input = { cohortId: cohort.cohort_id, snapshotId: Number(snapshot.snapshot_id) };
    const saved: JudgementProgress[] = [];
    const save = (progress: JudgementProgress) => saved.push(structuredClone(progress));

    // Judged afresh, each rule's groups are checkpointed as soon as they are judged.
    const fresh = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, input, { resumed: undefined, save });
    expect(saved.map((p) => Object.keys(p.rules))).toEqual([['delivery-404-policy@1/recall-floor']]);
    expect(saved[0]!.moment).toBe(moment);
    expect(saved[0]!.rules['delivery-404-policy@1/recall-floor']).toEqual(
      fresh.judgements.map(({ policy: _p, rule: _r, slice: _s, ...group }) => group),
    );

    // A retry given that checkpoint takes the rule's groups from it (here marked, to tell them apart).
    const marked = saved[0]!.rules['delivery-404-policy@1/recall-floor']!.map((group) => ({ ...group, reason: 'from the checkpoint' }));
    const resumed = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, input, {
      resumed: { moment, rules: { 'delivery-404-policy@1/recall-floor': marked } },
      save,
    });
    expect(resumed.judgements.map((j) => j.reason)).toEqual(['from the checkpoint']);
    // A checkpoint of another moment is not this judgement's: everything is judged again.
    const other = await applyMonitoringPolicy(testDb.db, defaultMonitoringDependencies, input, {
      resumed: { moment: 'close', rules: { 'delivery-404-policy@1/recall-floor': marked } },
      save,
    });
    expect(other.judgements.map((j) => j.reason)).toEqual(fresh.judgements.map((j) => j.reason));
  });

  it('a revision retried after its insert returns that revision, so it is judged', async () => {
    await runs.get('delivery-500');
    const cohort = await testDb.db('cohorts').where({ model_name: 'delivery-500' }).first('cohort_id', 'end_ts');
    const late = await testDb
      .db('predictions')
      .where({ model_name: 'delivery-500' })
      .whereNotIn('prediction_id', testDb.db('outcomes').whereNotNull('prediction_id').select('prediction_id'))
      .first('prediction_id', 'ts_pred');
    await testDb.db('outcomes').insert({
      outcome_id: `late-${late.prediction_id}`,
      prediction_id: late.prediction_id,
      outcome_type: 'chargeback',
      ts_event: new Date(late.ts_pred.getTime() + 100),
      ts_received: new Date(),
      content_hash: 'late',
    });
    const { reviseFinalSnapshot } = createLifecycleActivities(testDb.db);
    const asOf = new Date(Date.now() + 1_000).toISOString();
    const env = new MockActivityEnvironment();
    const first = await env.run(reviseFinalSnapshot, { cohortId: cohort.cohort_id, asOf });
    const retried = await env.run(reviseFinalSnapshot, { cohortId: cohort.cohort_id, asOf });
    expect(first).toMatchObject({ checkpoint: 'final', revision: 2 });
    expect(retried).toEqual(first);
  });

  it('a rule that cannot be judged is an error alert with its reason, and the cohort goes on', async () => {
    testDb.keepOnFailure();
    const result = await runs.get('delivery-error')!;
    expect(result.snapshots.map((s) => s.checkpoint)).toEqual(['PT6S', 'final']);
    await expectSnapshotsOnTime(result.cohortId);
    expect(result.alerts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'psi', state: 'error' }),
        expect.objectContaining({ rule: 'recall-floor', state: 'retracted' }),
      ]),
    );
    const listed = JSON.parse((await hindsight(['alerts', 'list', '--model', 'delivery-error', '--json'])).stdout).alerts;
    const error = listed.find((a: { rule: string }) => a.rule === 'psi');
    expect(error.state).toBe('error');
    expect(error.evidence.reason).toMatch(
      /^could not judge this rule: not a numeric or string-valued feature of the reference cohort: amount/,
    );
    const errors = JSON.parse((await hindsight(['alerts', 'list', '--state', 'error', '--json'])).stdout).alerts;
    expect(errors.map((a: { rule: string; model_name: string }) => [a.model_name, a.rule])).toEqual([['delivery-error', 'psi']]);
    expect((await hindsight(['alerts', 'list', '--state', 'error'])).stdout).toMatch(
      /\terror\t.*\tnot judged: could not judge this rule: /,
    );
  }, 90_000);

  it('a retraining hook that keeps failing is parked, to be called again in 5 minutes under the same request id', async () => {
    testDb.keepOnFailure();
    await runs.get('delivery-hook-down');
    const retraining = worker.client.workflow.getHandle(retrainingWorkflowId('delivery-hook-down'));
    const state = await waitFor(
      async () => {
        const s = await retraining.query(getRetrainingStateQuery).catch(() => undefined);
        return s?.requests[0]?.status === 'hook_failed' ? s : undefined;
      },
      60_000,
      'the parked request',
    );
    const request = state.requests[0]!;
    expect(request.hookError).toMatch(/down-retrain answered 503/);
    expect(request.hookRetry).toMatchObject({ attempts: 1 });
    const wait = Date.parse(request.hookRetry!.at) - Date.now();
    expect(wait).toBeGreaterThan(4 * 60_000);
    expect(wait).toBeLessThanOrEqual(5 * 60_000);
    // Five attempts over about half a minute, all under the request's own key.
    const calls = receiver.calls.filter((c) => c.path === '/down-retrain');
    expect(calls.map((c) => c.key)).toEqual(Array(5).fill(request.requestId));
    await retraining.terminate('test done');
  }, 90_000);

  it('a slow receiver (9 s an answer) gets each key once, in the order queued', async () => {
    testDb.keepOnFailure();
    const result = await runs.get('delivery-slow')!;
    await expectSnapshotsOnTime(result.cohortId);
    const delivered = await waitFor(async () => {
      const rows = await notificationsOf('delivery-slow');
      return rows.length === 2 && rows.every((r) => r.state === 'delivered') ? rows : undefined;
    }, 60_000);
    const calls = receiver.calls.filter((c) => c.path === '/slow');
    expect(calls.map((c) => c.key)).toEqual(delivered.map((r) => r.idempotency_key));
  }, 90_000);

  it('Slack and PagerDuty get each alert change once, in their own documented formats, through their own delivery workflows', async () => {
    testDb.keepOnFailure();
    const result = await runs.get('delivery-channels')!;
    await expectSnapshotsOnTime(result.cohortId);
    const rows = await waitFor(async () => {
      const all = await notificationsOf('delivery-channels');
      return all.length === 4 && all.every((r) => r.state === 'delivered') ? all : undefined;
    });
    expect(rows.map((r) => r.transition).sort()).toEqual(['firing', 'firing', 'retracted', 'retracted']);

    const slack = receiver.calls.filter((c) => c.path === '/slack/T0001/B0001/hook-secret').map((c) => JSON.parse(c.body));
    expect(slack).toHaveLength(2);
    for (const message of slack) expect(() => slackMessageSchema.parse(message)).not.toThrow();
    expect(slack.map((m) => m.blocks[0].text.text)).toEqual(['recall-floor firing', 'recall-floor retracted']);
    expect(slack[0].text).toMatch(/^\[critical\] recall-floor firing on delivery-channels v1 \(overall\): recall 0 vs 0\.5 at PT6S/);
    expect(JSON.stringify(slack[0].blocks)).toContain('<https://git.example.com/hindsight/blob/main/docs/runbooks/floor.md|runbook>');

    const pages = receiver.calls.filter((c) => c.path === '/pd/v2/enqueue').map((c) => JSON.parse(c.body));
    for (const event of pages) expect(() => pagerDutyEventSchema.parse(event)).not.toThrow();
    expect(pages.map((e) => [e.event_action, e.routing_key])).toEqual([
      ['trigger', process.env.HS_TEST_PD_KEY],
      ['resolve', process.env.HS_TEST_PD_KEY],
    ]);
    // One incident per alert: the resolve closes what the trigger opened.
    expect(pages[1].dedup_key).toBe(pages[0].dedup_key);
    expect(pages[0].payload).toMatchObject({ severity: 'critical', source: 'hindsight/delivery-channels', class: 'floor' });

    // Neither the Slack URL nor the routing key is kept: the outbox names the variables.
    const stored = await testDb.db('alert_notifications').select('url', 'destination', 'last_error');
    expect(JSON.stringify(stored)).not.toContain('hook-secret');
    expect(JSON.stringify(stored)).not.toContain(process.env.HS_TEST_PD_KEY);
    const listed = JSON.parse((await hindsight(['alerts', 'list', '--model', 'delivery-channels', '--json'])).stdout).alerts;
    expect(listed[0].deliveries.map((d: { destination: string; state: string }) => d.destination).sort()).toEqual([
      `pagerduty ${receiver.url}/pd/v2/enqueue ($HS_TEST_PD_KEY)`,
      `pagerduty ${receiver.url}/pd/v2/enqueue ($HS_TEST_PD_KEY)`,
      'slack $HS_TEST_SLACK_URL',
      'slack $HS_TEST_SLACK_URL',
    ]);
  }, 90_000);

  it('a redirect is refused, naming where it pointed, and never followed', async () => {
    testDb.keepOnFailure();
    await runs.get('delivery-redirect');
    const refused = await waitFor(async () => {
      const rows = await notificationsOf('delivery-redirect');
      return rows.length === 2 && rows.every((r) => r.state === 'refused') ? rows : undefined;
    });
    expect(refused[0]!.last_status).toBe(307);
    expect(refused[0]!.last_error).toBe(
      `${receiver.url}/moved answered 307, a redirect to ${receiver.url}/elsewhere; redirects are not followed`,
    );
    expect(receiver.calls.filter((c) => c.path.startsWith('/elsewhere'))).toEqual([]);
  }, 90_000);
});
