import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngestServer, type IngestServer } from '../../activities/ingest/ingest-server';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const TOKEN = 'test-token-0123456789abcdef';
let open: IngestServer;
let guarded: IngestServer;
let impatient: IngestServer;
let browserFacing: IngestServer;

beforeAll(async () => {
  open = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, maxBodyBytes: 4096 });
  guarded = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, token: TOKEN });
  impatient = await startIngestServer({
    db: testDb.db,
    host: '127.0.0.1',
    port: 0,
    timeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 300, idleMs: 1500 },
  });
  browserFacing = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, allowedOrigins: ['https://ops.example.com'] });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await impatient?.close();
  await browserFacing?.close();
});

/** Opens a raw connection, sends `text`, and resolves with what the server wrote and how long until it closed. */
function holdConnection(server: IngestServer, text: string): Promise<{ received: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ received, closedAfterMs: Date.now() - started }));
    // A server that never lets go fails the test instead of hanging it.
    setTimeout(() => socket.destroy(new Error('the server held the connection for 5 s')), 5000).unref();
  });
}

function prediction(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    prediction_id: randomUUID(),
    model_name: 'fraud',
    model_version: '1.0',
    ts_pred: '2026-11-01T10:00:00Z',
    score: 0.5,
    ...overrides,
  };
}

/** POSTs `body`; the content type is JSON unless `headers` says otherwise. */
async function post(server: IngestServer, route: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${route}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: response.status, document: await response.json() };
}

describe('hindsight serve', () => {
  it('answers GET /healthz once the database is reachable', async () => {
    const response = await fetch(`${open.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('ingests a JSON array with the result document, numbering records by position', async () => {
    const good = prediction();
    const { status, document } = await post(open, '/v1/predictions', JSON.stringify([good, prediction({ score: 'high' }), good]), {
      'content-type': 'application/json',
    });
    expect(status).toBe(200);
    expect(document).toMatchObject({ accepted: 1, duplicates: 1, conflicts: 0, rejected: [{ line: 2, field: 'score' }] });
    expect(await testDb.db('predictions').where({ prediction_id: good.prediction_id }).first('score')).toEqual({ score: 0.5 });
  });

  it('ingests an NDJSON body of outcomes and actions', async () => {
    const id = randomUUID();
    const outcomes = [{ outcome_id: `o-${id}`, prediction_id: id, outcome_type: 'click', ts_event: '2026-11-01T10:00:00Z' }];
    expect(
      (await post(open, '/v1/outcomes', outcomes.map((o) => JSON.stringify(o)).join('\n'), { 'content-type': 'application/x-ndjson' }))
        .document,
    ).toMatchObject({ accepted: 1 });
    const actions = [{ prediction_id: id, action: 'show', ts_action: '2026-11-01T10:00:00Z' }];
    expect(
      (
        await post(open, '/v1/actions', actions.map((a) => JSON.stringify(a)).join('\n'), {
          'content-type': 'application/x-ndjson; charset=utf-8',
        })
      ).document,
    ).toMatchObject({ accepted: 1 });
  });

  it('requires the bearer token when one is configured', async () => {
    const body = JSON.stringify([prediction()]);
    const missing = await post(guarded, '/v1/predictions', body);
    expect(missing.status).toBe(401);
    expect(missing.document.error).toMatch(/missing bearer token/);
    const wrong = await post(guarded, '/v1/predictions', body, { authorization: 'Bearer not-the-token-at-all' });
    expect(wrong.status).toBe(401);
    expect(wrong.document.error).toMatch(/not valid/);
    const right = await post(guarded, '/v1/predictions', body, { authorization: `Bearer ${TOKEN}` });
    expect(right.status).toBe(200);
    expect(right.document).toMatchObject({ accepted: 1 });
  });

  it('refuses to listen beyond loopback without a token', async () => {
    await expect(startIngestServer({ db: testDb.db, host: '0.0.0.0', port: 0 })).rejects.toThrow(/HINDSIGHT_API_TOKEN must be set/);
  });

  it('answers 413 with the limit when the body is too large, and stores nothing of it', async () => {
    const records = Array.from({ length: 40 }, () => prediction());
    const { status, document } = await post(open, '/v1/predictions', JSON.stringify(records));
    expect(status).toBe(413);
    expect(document.error).toMatch(/exceeds the limit of 4096 bytes/);
    expect(await testDb.db('predictions').where({ prediction_id: records[0]!.prediction_id }).first()).toBeUndefined();
  });

  it('says what was wrong on a bad request', async () => {
    const unknown = await post(open, '/v1/labels', '[]');
    expect(unknown.status).toBe(404);
    expect(unknown.document.error).toMatch(/POST \/v1\/predictions/);
    const wrongMethod = await fetch(`${open.url}/v1/predictions`);
    expect(wrongMethod.status).toBe(405);
    const broken = await post(open, '/v1/predictions', '[{"prediction_id": ');
    expect(broken.status).toBe(400);
    expect(broken.document.error).toMatch(/not valid JSON/);
    const empty = await post(open, '/v1/predictions', '');
    expect(empty.status).toBe(400);
  });

  it('answers 415 to a body that is not application/json or application/x-ndjson, and stores nothing', async () => {
    const record = prediction();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const { status, document } = await post(open, '/v1/predictions', JSON.stringify([record]), { 'content-type': type });
      expect(status).toBe(415);
      expect(document.error).toMatch(/Content-Type must be application\/json/);
    }
    const response = await fetch(`${open.url}/v1/predictions`, { method: 'POST', body: Buffer.from(JSON.stringify([record])) });
    expect(response.status).toBe(415);
    expect(await testDb.db('predictions').where({ prediction_id: record.prediction_id }).first()).toBeUndefined();
  });

  it('refuses a request from a browser origin with 403 unless that origin is allowed', async () => {
    const record = prediction();
    const refused = await post(open, '/v1/predictions', JSON.stringify([record]), { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.document.error).toMatch(/origin https:\/\/evil.example are refused.*HINDSIGHT_ALLOWED_ORIGINS/);
    expect((await post(browserFacing, '/v1/predictions', JSON.stringify([record]), { origin: 'https://other.example' })).status).toBe(403);
    expect(await testDb.db('predictions').where({ prediction_id: record.prediction_id }).first()).toBeUndefined();
    const preflight = await fetch(`${browserFacing.url}/v1/predictions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://ops.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    const response = await fetch(`${browserFacing.url}/v1/predictions`, {
      method: 'POST',
      body: JSON.stringify([record]),
      headers: { origin: 'https://ops.example.com', 'content-type': 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    expect(await response.json()).toMatchObject({ accepted: 1 });
  });

  it('accepts a gzip body, answers 413 to one that inflates past the limit without inflating it all, and 400 to broken gzip', async () => {
    const record = prediction();
    const gzipped = await post(open, '/v1/predictions', gzipSync(JSON.stringify([record])), { 'content-encoding': 'gzip' });
    expect(gzipped).toMatchObject({ status: 200, document: { accepted: 1 } });
    // 64 MiB of spaces is about 64 KiB of gzip: only the first 4 KiB may be inflated.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const started = Date.now();
    const inflated = await post(open, '/v1/predictions', bomb, { 'content-encoding': 'gzip' });
    expect(inflated.status).toBe(413);
    expect(inflated.document.error).toMatch(/exceeds the limit of 4096 bytes once gunzipped/);
    expect(Date.now() - started).toBeLessThan(2000);
    const truncated = gzipSync(JSON.stringify([prediction()])).subarray(0, 30);
    const broken = await post(open, '/v1/predictions', truncated, { 'content-encoding': 'gzip' });
    expect(broken.status).toBe(400);
    expect(broken.document.error).toMatch(/not valid gzip/);
    expect((await post(open, '/v1/predictions', '[]', { 'content-encoding': 'br' })).status).toBe(415);
  });

  it('answers a body nested 100,000 levels deep with the record rejected, never a 503 that invites a retry', async () => {
    const good = prediction();
    const deep = `[${JSON.stringify(good)},{"prediction_id":"${randomUUID()}","model_name":"m","model_version":"1","ts_pred":"2026-11-01T10:00:00Z","score":0.5,"features":${'['.repeat(100_000)}${']'.repeat(100_000)}}]`;
    const big = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0 });
    try {
      const { status, document } = await post(big, '/v1/predictions', deep);
      expect(status).toBe(200);
      expect(document).toMatchObject({
        accepted: 1,
        rejected: [{ line: 2, field: 'features', error: expect.stringMatching(/nested deeper than 32 levels/) }],
      });
      const ndjson = await post(big, '/v1/predictions', `{"features":${'['.repeat(100_000)}${']'.repeat(100_000)}}\n`, {
        'content-type': 'application/x-ndjson',
      });
      expect(ndjson).toMatchObject({ status: 200, document: { rejected: [{ line: 1 }] } });
    } finally {
      await big.close();
    }
  });

  it('refuses a JSON array body that is not UTF-8 with 400, and rejects only the bad lines of NDJSON', async () => {
    const good = prediction({ model_name: 'café' });
    const array = Buffer.from(JSON.stringify([good]));
    array[array.indexOf('café') + 3] = 0xe9;
    const refused = await post(open, '/v1/predictions', array);
    expect(refused.status).toBe(400);
    expect(refused.document.error).toMatch(/not valid UTF-8 at byte offset \d+/);
    const line = Buffer.from(JSON.stringify(prediction({ model_name: 'caf?' })));
    line[line.indexOf('caf?') + 3] = 0xe9;
    const ndjson = Buffer.concat([line, Buffer.from(`\n${JSON.stringify(good)}\n`)]);
    const { status, document } = await post(open, '/v1/predictions', ndjson, { 'content-type': 'application/x-ndjson' });
    expect(status).toBe(200);
    expect(document).toMatchObject({ accepted: 1, rejected: [{ line: 1, error: expect.stringMatching(/invalid UTF-8/) }] });
    expect(await testDb.db('predictions').where({ prediction_id: good.prediction_id }).first('model_name')).toEqual({ model_name: 'café' });
  });

  it('closes a connection whose headers, body or next request do not arrive in time', async () => {
    const headers = await holdConnection(impatient, 'POST /v1/predictions HTTP/1.1\r\nHost: x\r\n');
    expect(headers.closedAfterMs).toBeLessThan(3000);
    expect(headers.received).toMatch(/^HTTP\/1.1 408/);
    const body = await holdConnection(
      impatient,
      'POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[',
    );
    expect(body.closedAfterMs).toBeLessThan(3000);
    expect(body.received).toMatch(/^HTTP\/1.1 408/);
    const silent = await holdConnection(impatient, '');
    expect(silent.closedAfterMs).toBeLessThan(3000);
    const idle = await holdConnection(impatient, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(idle.received).toMatch(/^HTTP\/1.1 200/);
    expect(idle.closedAfterMs).toBeLessThan(3000);
  });

  it('never drops an answer it owes: a slow store outlives the idle timeout, and one past answerMs gets 503 with Retry-After, stored once', async () => {
    // A transaction holding a SHARE lock on predictions keeps every insert waiting until it ends.
    // Resolves once the lock is held, to the moment it is released.
    const holdInserts = async (ms: number) => {
      const trx = await testDb.db.transaction();
      await trx.raw('lock table predictions in share mode');
      return { released: new Promise<void>((resolve) => setTimeout(() => void trx.commit().then(() => resolve()), ms)) };
    };
    const slow = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, timeouts: { idleMs: 200, answerMs: 10_000 } });
    const hurried = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, timeouts: { idleMs: 200, answerMs: 300 } });
    try {
      const waited = (await holdInserts(800)).released;
      const patient = await post(slow, '/v1/predictions', JSON.stringify([prediction()]));
      expect(patient).toMatchObject({ status: 200, document: { accepted: 1 } });
      await waited;

      const record = prediction();
      const { released } = await holdInserts(800);
      const response = await fetch(`${hurried.url}/v1/predictions`, {
        method: 'POST',
        body: JSON.stringify([record]),
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect((await response.json()).error).toMatch(/still being stored .* send the same batch again in 1 s/);
      await released;
      // The first attempt goes on and stores the record; the client's retry then finds it stored.
      const stored = () => testDb.db('predictions').where({ prediction_id: record.prediction_id }).first('prediction_id');
      for (let tries = 0; !(await stored()) && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 25));
      const retry = await post(slow, '/v1/predictions', JSON.stringify([record]));
      expect(retry).toMatchObject({ status: 200, document: { accepted: 0, duplicates: 1 } });
      expect(await testDb.db('predictions').where({ prediction_id: record.prediction_id }).count({ n: '*' })).toEqual([{ n: 1 }]);
    } finally {
      await slow.close();
      await hurried.close();
    }
  });
});
