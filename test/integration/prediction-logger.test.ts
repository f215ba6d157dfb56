import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngestServer, type IngestServer } from '../../activities/ingest/ingest-server';
import { createPredictionLogger } from '../../client/prediction-logger';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const TOKEN = 'logger-token-0123456789';
let server: IngestServer;

beforeAll(async () => {
  server = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, token: TOKEN });
});

afterAll(async () => {
  await server?.close();
});

async function storedCount(model: string): Promise<number> {
  const [row] = await testDb.db('predictions').where({ model_name: model }).count<{ count: number }[]>({ count: '*' });
  return row!.count;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('createPredictionLogger', () => {
  it('flushes what is queued on shutdown, filling prediction_id and ts_pred', async () => {
    const model = `m-${randomUUID()}`;
    const logger = createPredictionLogger({ url: server.url, token: TOKEN, batchSize: 1000, flushIntervalMs: 60_000, flushOnExit: false });
    const ids = [
      logger.log({ model_name: model, model_version: '1', score: 0.1 }),
      logger.log({ model_name: model, model_version: '1', score: 0.2 }),
    ];
    const given = logger.log({
      model_name: model,
      model_version: '1',
      score: 0.3,
      prediction_id: randomUUID(),
      ts_pred: '2026-11-01T00:00:00+01:00',
    });
    expect(await storedCount(model)).toBe(0);
    await logger.shutdown();
    expect(await storedCount(model)).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const stored = await testDb.db('predictions').where({ prediction_id: given }).first('ts_pred');
    expect((stored.ts_pred as Date).toISOString()).toBe('2026-10-31T23:00:00.000Z');
    const filled = await testDb.db('predictions').where({ prediction_id: ids[0] }).first('ts_pred');
    expect(Math.abs((filled.ts_pred as Date).getTime() - Date.now())).toBeLessThan(60_000);
    expect(logger.stats()).toMatchObject({ logged: 3, sent: 3, accepted: 3, dropped: 0, queued: 0 });
  });

  it('sends a batch as soon as it is full', async () => {
    const model = `m-${randomUUID()}`;
    const logger = createPredictionLogger({ url: server.url, token: TOKEN, batchSize: 2, flushIntervalMs: 60_000, flushOnExit: false });
    logger.log({ model_name: model, model_version: '1', score: 0.1 });
    logger.log({ model_name: model, model_version: '1', score: 0.2 });
    await waitFor(async () => (await storedCount(model)) === 2);
    await logger.shutdown();
  });

  it('sends on its interval without a full batch', async () => {
    const model = `m-${randomUUID()}`;
    const logger = createPredictionLogger({ url: server.url, token: TOKEN, batchSize: 1000, flushIntervalMs: 50, flushOnExit: false });
    logger.log({ model_name: model, model_version: '1', score: 0.1 });
    await waitFor(async () => (await storedCount(model)) === 1);
    await logger.shutdown();
  });

  it('never blocks or throws in log() when Hindsight is unreachable, and reports the loss', async () => {
    const errors: string[] = [];
    const logger = createPredictionLogger({
      url: 'http://127.0.0.1:9',
      batchSize: 2,
      maxAttempts: 2,
      flushOnExit: false,
      onError: (error) => errors.push(error.message),
    });
    const started = performance.now();
    for (let i = 0; i < 5; i += 1) logger.log({ model_name: 'down', model_version: '1', score: 0.5 });
    expect(performance.now() - started).toBeLessThan(50);
    await logger.shutdown();
    expect(logger.stats()).toMatchObject({ logged: 5, sent: 0, dropped: 5 });
    expect(errors.length).toBeGreaterThan(0);
  });

  it('reports records the server rejected', async () => {
    const errors: string[] = [];
    const logger = createPredictionLogger({
      url: server.url,
      token: TOKEN,
      flushOnExit: false,
      onError: (error) => errors.push(error.message),
    });
    logger.log({ model_name: 'm', model_version: '1', score: Number.NaN });
    await logger.shutdown();
    expect(logger.stats()).toMatchObject({ rejected: 1 });
    expect(errors[0]).toMatch(/rejected 1 records/);
  });
});
