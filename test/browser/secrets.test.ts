import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverNext, webhookDestination } from '../../activities/delivery/outbox';
import { putImmutableVersion, putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { ingestRecords } from '../../activities/ingest/ingest-records';
import { policyFields, putPolicy } from '../../activities/monitoring/policy';
import { deliveryWorkflowId } from '../../contracts/delivery';
import { getRetrainingStateQuery, retrainingWorkflowId } from '../../contracts/retraining';
import { startCohortLifecycle } from '../../control/start-cohort';
import { ensureTemporalCli, startDevServer, type DevServer } from '../../workers/temporal-dev-server';
import { createHindsightWorker } from '../../workers/worker';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { waitFor } from '../support/temporal';
import { launchChromium, type HeadlessChromium } from './chromium';

/** Every line the worker and the Temporal core log, whatever its level, with its metadata. */
const logLines: string[] = [];
Runtime.install({
  logger: new DefaultLogger('DEBUG', (entry) => logLines.push(`${entry.level} ${entry.message} ${safeJson(entry.meta)}`)),
  telemetryOptions: { logging: { filter: { core: 'DEBUG', other: 'DEBUG' }, forward: {} } },
});

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '';
  } catch {
    return String(value);
  }
}

const testDb = useTestDatabase();
const MODEL = 'fraud-secrets';
/** What only the worker's environment holds: the alert webhook's URL (its path is the secret) and two credentials. */
const SECRETS = {
  urlPath: `hook-${randomUUID()}`,
  alertToken: `alert-token-${randomUUID()}`,
  hookKey: `hook-key-${randomUUID()}`,
};
/** A policy stored before literal credentials were refused: they stay in its row, and nowhere else. */
const LEGACY = { query: `legacy-query-${randomUUID()}`, token: `legacy-token-${randomUUID()}` };

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
}

/** Answers each path's first call with 500 or 503 (so failures are recorded), then 200. */
async function startReceiver() {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const route = request.url ?? '';
      const first = !received.some((r) => r.path === route);
      received.push({ path: route, headers: request.headers });
      response.writeHead(first ? (route.startsWith('/retrain') ? 503 : 500) : 200).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** A cohort that closed a minute ago whose recall is 0: every chargeback was scored low. */
async function seedCohort(db: Knex) {
  const end = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const start = end - 10_000;
  const predictions = Array.from({ length: 200 }, (_, i) => ({
    prediction_id: randomUUID(),
    model_name: MODEL,
    model_version: 'v1',
    environment: 'production',
    ts_pred: new Date(start + 40 * i).toISOString(),
    score: 0.1,
  }));
  const outcomes = predictions
    .filter((_, i) => i % 2 === 0)
    .map((p) => ({
      outcome_id: `cb-${p.prediction_id}`,
      prediction_id: p.prediction_id,
      outcome_type: 'chargeback',
      ts_event: new Date(Date.parse(p.ts_pred) + 100).toISOString(),
      ts_received: new Date(Date.parse(p.ts_pred) + 200).toISOString(),
    }));
  for (const [kind, rows] of [
    ['predictions', predictions],
    ['outcomes', outcomes],
  ] as const) {
    const result = await ingestRecords(db, kind, [rows.map((value, i) => ({ line: i + 1, text: JSON.stringify(value), value }))]);
    expect(result.rejected).toEqual([]);
  }
  const { definition } = await putLabelDefinition(db, {
    name: `${MODEL}-chargeback`,
    version: 1,
    model_name: MODEL,
    task: 'binary',
    window: 'PT2S',
    checkpoints: ['PT1S'],
    positive_outcome_types: ['chargeback'],
    late_label_grace: 'PT1S',
  });
  const selector = {
    model_name: MODEL,
    model_version: 'v1',
    environment: 'production',
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
  };
  return { selector, definition };
}

describe('no secret of a policy appears in any output, table, log line, workflow history or Web UI page', () => {
  let server: DevServer;
  let connection: NativeConnection;
  let clientConnection: Connection;
  let worker: Worker;
  let workerRun: Promise<void>;
  let browser: HeadlessChromium | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const taskQueue = `secrets-${randomUUID()}`;

  beforeAll(async () => {
    [server, receiver, browser] = await Promise.all([
      startDevServer({ cliPath: ensureTemporalCli(), port: 0, uiPort: 0 }),
      startReceiver(),
      launchChromium(),
    ]);
    connection = await NativeConnection.connect({ address: server.address });
    clientConnection = await Connection.connect({ address: server.address });
    // The worker's environment, read when it sends.
    process.env.SECRETS_TEST_ALERT_URL = `${receiver.url}/alerts/${SECRETS.urlPath}`;
    process.env.SECRETS_TEST_ALERT_TOKEN = `Bearer ${SECRETS.alertToken}`;
    process.env.SECRETS_TEST_HOOK_KEY = SECRETS.hookKey;
    worker = await createHindsightWorker({ connection, db: testDb.db, namespace: 'default', taskQueue });
    workerRun = worker.run();
  });

  afterAll(async () => {
    await browser?.close();
    worker?.shutdown();
    await workerRun;
    await clientConnection?.close();
    await connection?.close();
    await server?.stop();
    receiver?.server.close();
  });

  it('sends each secret to its receiver, and names it nowhere else', async () => {
    testDb.keepOnFailure();
    const { selector, definition } = await seedCohort(testDb.db);
    const rules = [{ name: 'recall-floor', kind: 'floor', metric: 'recall', min: 0.5, severity: 'critical' }];
    await putPolicy(testDb.db, {
      name: `${MODEL}-policy`,
      version: 1,
      model_name: MODEL,
      label_definition: definition.name,
      rules,
      notifications: {
        webhook: {
          url_from_env: 'SECRETS_TEST_ALERT_URL',
          headers: { 'x-team': 'risk' },
          headers_from_env: { authorization: 'SECRETS_TEST_ALERT_TOKEN' },
        },
      },
      retraining: {
        rules: ['recall-floor'],
        quiet_period: 'P1D',
        every: 'P1D',
        hook: { webhook: { url: `${receiver.url}/retrain`, headers_from_env: { 'x-api-key': 'SECRETS_TEST_HOOK_KEY' } } },
      },
    });
    const legacyPolicy = policyFields.parse({
      name: `${MODEL}-legacy`,
      version: 1,
      model_name: MODEL,
      label_definition: definition.name,
      rules,
      notifications: {
        webhook: { url: `${receiver.url}/legacy?token=${LEGACY.query}`, headers: { authorization: `Bearer ${LEGACY.token}` } },
      },
    });
    const store = { table: 'monitoring_policies', documents: 'policies', where: 'legacy', error: Error };
    const legacyRow = { name: legacyPolicy.name, version: 1, model_name: MODEL, policy: legacyPolicy, changelog: null };
    await putImmutableVersion(testDb.db, store, legacyRow, legacyPolicy);

    const client = new Client({ connection: clientConnection });
    const started = await startCohortLifecycle(client, taskQueue, selector, definition, { lateLabelChecks: 1 });
    const cohortId = started.cohort_id;
    const result = await client.workflow.getHandle(cohortId).result();
    expect(result.alerts).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'recall-floor', state: 'firing' })]));

    // Each receiver got its secret: the alert URL's path and token, the legacy query and token, the hook's key.
    const retraining = client.workflow.getHandle(retrainingWorkflowId(MODEL));
    await waitFor(
      async () => {
        const state = await retraining.query(getRetrainingStateQuery).catch(() => undefined);
        const pending = await testDb.db('alert_notifications').where({ state: 'pending' }).count({ n: '*' });
        const called = receiver.received.filter((r) => r.path === '/retrain').length === 2;
        return called && state?.requests[0]?.status === 'retraining' && Number(pending[0]!.n) === 0 ? true : undefined;
      },
      40_000,
      'the deliveries and the hook call',
    );
    const delivered = (prefix: string) => receiver.received.filter((r) => r.path.startsWith(prefix));
    expect(delivered(`/alerts/${SECRETS.urlPath}`).map((r) => r.headers.authorization)).toEqual(
      expect.arrayContaining([`Bearer ${SECRETS.alertToken}`]),
    );
    expect(delivered(`/alerts/${SECRETS.urlPath}`)[0]!.headers['x-team']).toBe('risk');
    expect(delivered(`/legacy?token=${LEGACY.query}`).map((r) => r.headers.authorization)).toContain(`Bearer ${LEGACY.token}`);
    expect(delivered('/retrain').map((r) => r.headers['x-api-key'])).toEqual([SECRETS.hookKey, SECRETS.hookKey]);

    // A variable the worker lacks when it sends: the attempt fails naming it, never a value, and the notification stays pending.
    const envDestination = webhookDestination({ url_from_env: 'SECRETS_TEST_ALERT_URL' });
    const [resent] = await testDb.db('alert_notifications').where({ destination: envDestination }).pluck('idempotency_key');
    await testDb.db('alert_notifications').where({ idempotency_key: resent }).update({ state: 'pending' });
    delete process.env.SECRETS_TEST_ALERT_TOKEN;
    const missing =
      "$SECRETS_TEST_ALERT_URL: the worker's environment has no SECRETS_TEST_ALERT_TOKEN (headers_from_env.authorization); " +
      'set it and restart the worker';
    expect(await deliverNext(testDb.db, envDestination)).toMatchObject({ outcome: 'retry', status: null, reason: missing });
    process.env.SECRETS_TEST_ALERT_TOKEN = `Bearer ${SECRETS.alertToken}`;

    // Everything an operator reads from the command line, as text and as JSON.
    const env = { DATABASE_URL: testDb.url, TEMPORAL_ADDRESS: server.address };
    // A literal credential is refused at the door, naming the field and the fix, and stored nowhere.
    const literal = path.join(await mkdtemp(path.join(os.tmpdir(), 'hindsight-secrets-')), 'policy.json');
    await writeFile(literal, JSON.stringify({ ...legacyPolicy, name: `${MODEL}-literal` }));
    const refused = await runHindsightInProcess(['policy', 'put', literal], env);
    const outputs: Record<string, string> = { 'policy put (refused)': refused.stdout + refused.stderr };
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${literal}: notifications.webhook.url: a query string often holds a token`);
    expect(refused.stderr).toContain(
      `${literal}: notifications.webhook.headers.authorization: a credential is never stored in a policy; ` +
        'name the environment variable of the worker that holds it: "headers_from_env": {"authorization": "SOME_VARIABLE"}',
    );
    for (const args of [
      ['policy', 'show', `${MODEL}-policy`],
      ['policy', 'show', `${MODEL}-legacy`],
      ['policy', 'list'],
      ['alerts', 'list', '--model', MODEL],
      ['cohort', 'status', cohortId],
      ['retraining', 'status', '--model', MODEL],
    ]) {
      for (const json of [[], ['--json']]) {
        const run = await runHindsightInProcess([...args, ...json], env);
        expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
        outputs[[...args, ...json].join(' ')] = run.stdout + run.stderr;
      }
    }
    // What they show instead: the credentials redacted, the receivers named by variable or by host and path.
    expect(JSON.parse(outputs[`policy show ${MODEL}-legacy --json`]!).notifications.webhook).toMatchObject({
      url: `${receiver.url}/legacy?***`,
      headers: { authorization: '***' },
    });
    expect(JSON.parse(outputs[`policy show ${MODEL}-policy --json`]!).notifications.webhook.headers_from_env).toEqual({
      authorization: 'SECRETS_TEST_ALERT_TOKEN',
    });
    const deliveries = JSON.parse(outputs[`alerts list --model ${MODEL} --json`]!).alerts.flatMap(
      (a: { deliveries: Array<{ destination: string; last_error: string | null }> }) => a.deliveries,
    );
    expect(deliveries.map((d: { destination: string }) => d.destination).sort()).toEqual([
      '$SECRETS_TEST_ALERT_URL',
      `${receiver.url}/legacy`,
    ]);
    expect(deliveries).toContainEqual(expect.objectContaining({ state: 'pending', last_error: missing }));

    // Every row of every table, as text.
    const tables: Array<{ table_name: string }> = await testDb
      .db('information_schema.tables')
      .where({ table_schema: testDb.db.raw('current_schema()'), table_type: 'BASE TABLE' })
      .select('table_name');
    const rows: Record<string, string> = {};
    for (const { table_name: table } of tables) {
      const dumped = await testDb.db.raw(`select t::text as row from "${table}" t`);
      rows[table] = dumped.rows.map((r: { row: string }) => r.row).join('\n');
    }
    expect(rows.alert_notifications).toContain('$SECRETS_TEST_ALERT_URL');
    expect(rows.monitoring_policies).toContain(LEGACY.token);

    // The histories of the cohort, its destinations' deliveries and the retraining requests, as the server stores them.
    const workflowIds = [
      cohortId,
      retrainingWorkflowId(MODEL),
      deliveryWorkflowId(envDestination),
      deliveryWorkflowId(webhookDestination(`${receiver.url}/legacy?token=${LEGACY.query}`)),
    ];
    const histories: Record<string, string> = {};
    for (const id of workflowIds) {
      const history = await client.workflow.getHandle(id).fetchHistory();
      histories[id] = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
    }
    // Their failures (each receiver's first answer) are recorded, naming the receiver by variable and host, or by host and path.
    expect(histories[retrainingWorkflowId(MODEL)]).toContain(`${receiver.url}/retrain answered 503`);
    expect(histories[workflowIds[2]!]).toContain(`$SECRETS_TEST_ALERT_URL (${receiver.url}) answered 500`);
    expect(histories[workflowIds[3]!]).toContain(`${receiver.url}/legacy answered 500`);

    // The Web UI's pages of those workflows (history, and the user metadata with the current details), and every
    // answer its API gave them, payloads decoded.
    const { page } = browser!;
    const pages: Record<string, string> = {};
    const answers: Array<Promise<string>> = [];
    page.on('response', (response) => {
      if (response.url().includes('/api/'))
        answers.push(
          response.text().then(
            (body) => [body, ...decodedPayloads(body)].join('\n'),
            () => '',
          ),
        );
    });
    const rendered = async () => `${await page.content()}\n${await page.locator('body').innerText()}`;
    const details = page.frameLocator('xpath=//h3[normalize-space()="Current Details"]/ancestor::div[.//iframe][1]//iframe');
    // The legacy destination's delivery looks like the other one: its history above is enough.
    for (const id of workflowIds.slice(0, 3)) {
      const { runId } = await client.workflow.getHandle(id).describe();
      const url = `${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(id)}/${runId}/history`;
      // The first page boots the Web UI (seconds); the next ones are its own in-app navigations, as an operator's clicks are.
      if (id === workflowIds[0]) await page.goto(url);
      else
        await page.evaluate((href) => {
          const link = Object.assign(document.createElement('a'), { href });
          document.body.append(link);
          link.click();
        }, url);
      await page.waitForURL(url);
      await page.getByRole('heading', { name: id, exact: true }).waitFor();
      await page.getByRole('heading', { name: 'Input', exact: true }).waitFor();
      await page.getByText('Event Type', { exact: true }).first().waitFor();
      pages[`${id} history`] = await rendered();
      await page.getByText('User Metadata', { exact: true }).click();
      await page.waitForURL(/\/user-metadata$/);
      await expect.poll(() => details.locator('body').innerText()).not.toBe('');
      pages[`${id} user metadata`] = `${await rendered()}\n${await details.locator('html').innerHTML()}`;
    }
    const api = (await Promise.all(answers)).join('\n');
    // What they showed: the hook's call, and the receivers named by variable and host.
    expect(Object.values(pages).join('\n')).toContain('callRetrainingWebhook');
    expect(api).toContain(`$SECRETS_TEST_ALERT_URL (${receiver.url}) answered 500`);
    expect(pages[`${workflowIds[2]} user metadata`]).toContain('Last problem: $SECRETS_TEST_ALERT_URL (');

    const everywhere = { outputs, rows, logLines: { all: logLines.join('\n') }, histories, pages, api: { all: api } };
    for (const [where, texts] of Object.entries(everywhere)) {
      for (const [name, text] of Object.entries(texts)) {
        for (const secret of Object.values(SECRETS)) expect(text, `${where} ${name}`).not.toContain(secret);
        if (!(where === 'rows' && name === 'monitoring_policies'))
          for (const secret of Object.values(LEGACY)) expect(text, `${where} ${name}`).not.toContain(secret);
      }
    }
    // The worker logged the hook's failed attempt: the log lines searched are the ones that would leak.
    expect(logLines.join('\n')).toContain(`${receiver.url}/retrain answered 503`);
    await retraining.terminate('test done');
  }, 120_000);
});

/** The payloads of a Web UI API answer (base64 JSON in `data` fields), decoded. */
function decodedPayloads(body: string): string[] {
  return [...body.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((match) => Buffer.from(match[1]!, 'base64').toString('utf8'));
}
