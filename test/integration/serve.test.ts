import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngestServer, type IngestServer } from '../../activities/ingest/ingest-server';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const TOKEN = 'test-token-0123456789abcdef';
let open: IngestServer;
let guarded: IngestServer;

beforeAll(async () => {
  open = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, maxBodyBytes: 4096 });
  guarded = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, token: TOKEN });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

function prediction(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { prediction_id: randomUUID(), model_name: 'fraud', model_version: '1.0', ts_pred: '2026-11-01T10:00:00Z', score: 0.5, ...overrides };
}

async function post(server: IngestServer, route: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${route}`, { method: 'POST', body, headers });
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
    const { status, document } = await post(open, '/v1/predictions', JSON.stringify([good, prediction({ score: 'high' }), good]), { 'content-type': 'application/json' });
    expect(status).toBe(200);
    expect(document).toMatchObject({ accepted: 1, duplicates: 1, conflicts: 0, rejected: [{ line: 2, field: 'score' }] });
    expect(await testDb.db('predictions').where({ prediction_id: good.prediction_id }).first('score')).toEqual({ score: 0.5 });
  });

  it('ingests an NDJSON body of outcomes and actions', async () => {
    const id = randomUUID();
    const outcomes = [{ outcome_id: `o-${id}`, prediction_id: id, outcome_type: 'click', ts_event: '2026-11-01T10:00:00Z' }];
    expect((await post(open, '/v1/outcomes', outcomes.map((o) => JSON.stringify(o)).join('\n'), { 'content-type': 'application/x-ndjson' })).document).toMatchObject({ accepted: 1 });
    const actions = [{ prediction_id: id, action: 'show', ts_action: '2026-11-01T10:00:00Z' }];
    expect((await post(open, '/v1/actions', actions.map((a) => JSON.stringify(a)).join('\n'))).document).toMatchObject({ accepted: 1 });
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
});
