import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';

/**
 * The fraud example's model service (examples/fraud/service.py), run by the machine's
 * python3, logging through client/python/hindsight_client.py to a real `hindsight serve`
 * (the compiled command line on a test database); the rows are then read back from
 * PostgreSQL and joined by `hindsight export`.
 */
const ROOT = path.join(__dirname, '..', '..');
const PYTHON = '/usr/bin/python3';
const SERVICE = path.join(ROOT, 'examples', 'fraud', 'service.py');
const TOKEN = 'fraud-service-token-0123456789';
const testDb = useTestDatabase();

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns a server and resolves once its stderr names the URL it listens on (`listening`'s group). */
/** Every process the tests started, so that a failed test leaves none running. */
const started = new Set<ChildProcess>();

function startListening(command: string, args: string[], env: Record<string, string>, listening: RegExp): Promise<Running> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(child);
  child.on('exit', () => started.delete(child));
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      const match = listening.exec(stderr);
      if (match) resolve({ child, url: match[1]!, stderr: () => stderr, exited });
    });
    void exited.then((code) => reject(new Error(`${path.basename(args[0] ?? command)} exited with ${code} before listening: ${stderr}`)));
  });
}

const startServe = () =>
  startListening(
    process.execPath,
    [path.join(ROOT, 'bin', 'hindsight.js'), 'serve', '--port', '0'],
    { DATABASE_URL: testDb.url, HINDSIGHT_API_TOKEN: TOKEN },
    /listening on (http:\/\/\S+)/,
  );

const startService = (hindsightUrl: string, flags: string[]) =>
  startListening(
    PYTHON,
    [SERVICE, '--port', '0', '--hindsight-url', hindsightUrl, ...flags],
    // No __pycache__ left in the working tree by the test.
    { HINDSIGHT_API_TOKEN: TOKEN, PYTHONDONTWRITEBYTECODE: '1' },
    /listening on (http:\/\/\S+),/,
  );

/** SIGTERM, then the exit code and everything the process wrote to stderr. */
async function stop(running: Running): Promise<{ code: number | null; stderr: string }> {
  running.child.kill('SIGTERM');
  const killer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
  const code = await running.exited;
  clearTimeout(killer);
  return { code, stderr: running.stderr() };
}

/** A request that fails the test, instead of hanging it, when the service does not answer in 5 s. */
async function post(service: Running, route: string, body: unknown): Promise<{ status: number; document: any }> {
  const response = await fetch(`${service.url}${route}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(5000),
  });
  return { status: response.status, document: await response.json() };
}

async function hindsight(args: string[]): Promise<any> {
  const run = await runHindsightInProcess([...args, '--json'], { DATABASE_URL: testDb.url });
  expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout);
}

async function waitFor(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const storedPredictions = (ids: string[]) =>
  testDb
    .db('predictions')
    .whereIn('prediction_id', ids)
    .orderBy('ts_pred')
    .select(
      'prediction_id',
      'model_name',
      'model_version',
      'environment',
      'score',
      'threshold',
      'decision',
      'region',
      'entity_ids',
      'segment',
      'features',
    );

const transaction = (id: string, amount: number, channel: string, region: string) => ({
  transaction_id: id,
  user_id: `user-${id}`,
  amount,
  channel,
  region,
});

let serve: Running;
let dir: string;

beforeAll(async () => {
  const python = spawnSync(PYTHON, ['--version'], { encoding: 'utf8' });
  if (python.error || python.status !== 0)
    throw new Error(
      `${PYTHON} is required by this test (the fraud service runs on the machine's python3) and did not run: ${python.error?.message ?? python.stderr}`,
    );
  serve = await startServe();
  dir = mkdtempSync(path.join(tmpdir(), 'hindsight-fraud-service-'));
  await hindsight(['label-definition', 'put', path.join(ROOT, 'examples', 'fraud', 'label-definition.json')]);
});

afterAll(() => {
  // Whatever a test left running (it failed before stopping it) is killed outright.
  for (const child of started) child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the fraud example’s model service', () => {
  it('logs every score and reported outcome through the Python client, flushes them on SIGTERM, and the join labels each prediction by its outcome', async () => {
    // A minute's flush interval: what reaches Hindsight is what the SIGTERM flush sent.
    const startedAt = new Date().toISOString();
    const service = await startService(serve.url, ['--flush-interval', '60']);
    const transactions = [
      transaction('tx-large-online-us', 2500, 'online', 'us'),
      transaction('tx-small-present-eu', 20, 'card_present', 'eu'),
      transaction('tx-large-online-eu', 900, 'online', 'eu'),
      transaction('tx-small-online-us', 45, 'online', 'us'),
    ];
    const scored: Array<{ prediction_id: string; score: number; decision: string }> = [];
    for (const tx of transactions) {
      const answer = await post(service, '/score', tx);
      expect(answer.status, JSON.stringify(answer.document)).toBe(200);
      scored.push(answer.document);
    }
    for (const { score, decision } of scored) {
      expect(score).toBeGreaterThan(0);
      expect(score).toBeLessThan(1);
      expect(decision).toBe(score >= 0.5 ? 'block' : 'allow');
    }
    // The model's direction: a large online US payment is blocked, a small one at a terminal passes.
    expect(scored.map((s) => s.decision)).toEqual(['block', 'allow', 'block', 'allow']);
    expect(new Set(scored.map((s) => s.prediction_id)).size).toBe(4);

    const [fraud, legit, chargedBack, unreported] = scored.map((s) => s.prediction_id) as [string, string, string, string];
    // After every ts_pred (an outcome before its prediction is time leakage, never joined), and not in the future.
    const chargebackAt = new Date().toISOString();
    const reports = [
      { prediction_id: fraud, outcome_type: 'fraud_confirmed' },
      { prediction_id: legit, outcome_type: 'legit_confirmed' },
      { prediction_id: chargedBack, outcome_type: 'chargeback', ts_event: chargebackAt },
    ];
    const reported = [];
    for (const report of reports) {
      const answer = await post(service, '/outcomes', report);
      expect(answer.status, JSON.stringify(answer.document)).toBe(202);
      reported.push(answer.document.outcome_id);
    }
    expect(reported).toEqual([`review-${fraud}`, `review-${legit}`, `chargeback-${chargedBack}`]);

    // Refused with the field named, and nothing logged for them.
    expect(await post(service, '/score', { ...transactions[0], amount: '12' })).toEqual({
      status: 400,
      document: { error: 'amount: must be a number of at least 0', field: 'amount' },
    });
    expect(await post(service, '/score', { ...transactions[0], region: 'apac' })).toEqual({
      status: 400,
      document: { error: "region: must be one of eu, us, not 'apac'", field: 'region' },
    });
    expect((await post(service, '/outcomes', { prediction_id: fraud, outcome_type: 'refund' })).document.field).toBe('outcome_type');
    expect((await post(service, '/outcomes', { prediction_id: 'tx-large-online-us', outcome_type: 'chargeback' })).document.field).toBe(
      'prediction_id',
    );
    expect(
      (await post(service, '/outcomes', { prediction_id: fraud, outcome_type: 'chargeback', ts_event: '2026-07-01T10:00:00' })).document
        .field,
    ).toBe('ts_event');

    expect(await storedPredictions(scored.map((s) => s.prediction_id))).toEqual([]);
    const stopped = await stop(service);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(/SIGTERM: stopping\n.*hindsight stored all 7 records/);

    expect(await storedPredictions(scored.map((s) => s.prediction_id))).toEqual(
      scored.map((s, i) => ({
        prediction_id: s.prediction_id,
        model_name: 'fraud-model',
        model_version: '3.2.0',
        environment: 'production',
        score: s.score,
        threshold: 0.5,
        decision: s.decision,
        region: transactions[i]!.region,
        entity_ids: { transaction_id: transactions[i]!.transaction_id, user_id: transactions[i]!.user_id },
        segment: { channel: transactions[i]!.channel },
        features: { amount: transactions[i]!.amount },
      })),
    );
    const outcomes = await testDb
      .db('outcomes')
      .whereIn('prediction_id', [fraud, legit, chargedBack, unreported])
      .orderBy('outcome_id')
      .select('outcome_id', 'prediction_id', 'outcome_type', 'source', 'ts_event');
    expect(outcomes).toEqual(
      [
        {
          outcome_id: `chargeback-${chargedBack}`,
          prediction_id: chargedBack,
          outcome_type: 'chargeback',
          source: 'issuer',
          ts_event: new Date(chargebackAt),
        },
        {
          outcome_id: `review-${fraud}`,
          prediction_id: fraud,
          outcome_type: 'fraud_confirmed',
          source: 'review',
          ts_event: expect.any(Date),
        },
        {
          outcome_id: `review-${legit}`,
          prediction_id: legit,
          outcome_type: 'legit_confirmed',
          source: 'review',
          ts_event: expect.any(Date),
        },
      ].sort((a, b) => (a.outcome_id < b.outcome_id ? -1 : 1)),
    );

    // The join, as `hindsight export` writes it: one row per prediction with its label and the outcome deciding it.
    const file = path.join(dir, 'joined.ndjson');
    await hindsight([
      'export',
      '--model',
      'fraud-model',
      '--version',
      '3.2.0',
      '--environment',
      'production',
      '--from',
      startedAt,
      '--to',
      new Date(Date.now() + 60_000).toISOString(),
      '--label-definition',
      'fraud-chargeback-90d',
      '--as-of',
      new Date().toISOString(),
      '--out',
      file,
    ]);
    const joined = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .map((row) => ({
        prediction_id: row.prediction_id,
        label: row.label,
        label_status: row.label_status,
        outcome_id: row.outcome_id,
        join_path: row.join_path,
      }));
    expect(joined.sort((a, b) => (a.prediction_id < b.prediction_id ? -1 : 1))).toEqual(
      [
        { prediction_id: fraud, label: 1, label_status: 'provisional', outcome_id: `review-${fraud}`, join_path: 'by_prediction_id' },
        { prediction_id: legit, label: 0, label_status: 'provisional', outcome_id: `review-${legit}`, join_path: 'by_prediction_id' },
        {
          prediction_id: chargedBack,
          label: 1,
          label_status: 'provisional',
          outcome_id: `chargeback-${chargedBack}`,
          join_path: 'by_prediction_id',
        },
        // absent_means unknown: no review and no chargeback yet is no label, not a legitimate transaction.
        { prediction_id: unreported, label: null, label_status: 'unlabeled', outcome_id: null, join_path: null },
      ].sort((a, b) => (a.prediction_id < b.prediction_id ? -1 : 1)),
    );
  });

  it('keeps scoring after hindsight serve stops, and says on exit what it could not store', async () => {
    const ownServe = await startServe();
    const service = await startService(ownServe.url, ['--flush-interval', '0.1', '--exit-timeout', '1']);
    const before = await post(service, '/score', transaction('tx-before-outage', 300, 'online', 'us'));
    await waitFor(async () => (await storedPredictions([before.document.prediction_id])).length === 1, 'the first prediction to be stored');
    expect((await stop(ownServe)).code).toBe(0);

    const during = await post(service, '/score', transaction('tx-during-outage', 300, 'online', 'us'));
    expect(during.status).toBe(200);
    // The same transaction scores the same with Hindsight gone: the model does not depend on it.
    expect({ score: during.document.score, decision: during.document.decision }).toEqual({
      score: before.document.score,
      decision: before.document.decision,
    });
    expect(
      (await post(service, '/outcomes', { prediction_id: during.document.prediction_id, outcome_type: 'fraud_confirmed' })).status,
    ).toBe(202);

    const stopped = await stop(service);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(/hindsight did not store 2 of 3 records/);
    expect(await storedPredictions([during.document.prediction_id])).toEqual([]);
  });

  it('keeps scoring while hindsight accepts connections and never answers, and exits after --exit-timeout counting what it could not store', async () => {
    const held: Socket[] = [];
    const stalled: Server = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = stalled.address() as { port: number };
      const service = await startService(`http://127.0.0.1:${port}`, ['--flush-interval', '0.1', '--exit-timeout', '1']);
      const first = await post(service, '/score', transaction('tx-stalled-1', 80, 'card_present', 'eu'));
      expect(first.status).toBe(200);
      // The client's thread is now inside a request that will never be answered.
      await waitFor(() => held.length > 0, 'the client to connect to the stalled hindsight');
      const second = await post(service, '/score', transaction('tx-stalled-2', 80, 'card_present', 'eu'));
      expect(second.status).toBe(200);
      expect(second.document.score).toBe(first.document.score);
      expect(
        (await post(service, '/outcomes', { prediction_id: first.document.prediction_id, outcome_type: 'legit_confirmed' })).status,
      ).toBe(202);

      const stopped = await stop(service);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stderr).toMatch(/hindsight did not store 3 of 3 records/);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });
});
