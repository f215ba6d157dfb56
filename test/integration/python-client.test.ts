import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database';

/**
 * The Python client (client/python/hindsight_client.py) against a real `hindsight serve`:
 * the compiled command line is started on a free port, the machine's python3 runs
 * test/python/test_hindsight_client.py with its URL, and the rows it logged are then read
 * back from PostgreSQL.
 */
const ROOT = path.join(__dirname, '..', '..');
const TOKEN = 'python-client-token-0123456789';
const testDb = useTestDatabase();
let serve: ChildProcess;
let url: string;

function startServe(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'hindsight.js'), 'serve', '--port', '0'], {
    env: { ...process.env, DATABASE_URL: testDb.url, HINDSIGHT_API_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      const listening = /listening on (http:\/\/\S+)/.exec(stderr);
      if (listening) resolve({ child, url: listening[1]! });
    });
    child.on('exit', (code) => reject(new Error(`hindsight serve exited with ${code}: ${stderr}`)));
  });
}

beforeAll(async () => {
  const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  if (python.error || python.status !== 0) {
    throw new Error("python3 is required by this test (the Python client is tested with the machine's python3) and was not found on PATH");
  }
  ({ child: serve, url } = await startServe());
});

afterAll(() => {
  serve?.kill('SIGTERM');
});

function runPython(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      [path.join(ROOT, 'test', 'python', 'test_hindsight_client.py')],
      { env: { ...process.env, ...env }, timeout: 100_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` });
      },
    );
  });
}

interface Manifest {
  predictions: Array<{
    prediction_id: string;
    model_version: string;
    score: number;
    ts_pred: string;
    entity_ids: Record<string, string>;
    region: string;
    segment: Record<string, string>;
    threshold: number;
  }>;
  outcomes: Array<{ outcome_id: string; prediction_id: string; outcome_type: string; value: number; ts_event: string }>;
  actions: Array<{ prediction_id: string; action: string; ts_action: string; policy: string; propensity: number }>;
}

describe('the Python client against hindsight serve', () => {
  it('passes its unittest suite with nothing skipped, and what it logged is in PostgreSQL', async () => {
    const model = `py-${randomUUID()}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'hindsight-py-'));
    try {
      const manifestFile = path.join(dir, 'manifest.json');
      const run = await runPython({
        HINDSIGHT_TEST_URL: url,
        HINDSIGHT_TEST_TOKEN: TOKEN,
        HINDSIGHT_TEST_MODEL: model,
        HINDSIGHT_TEST_MANIFEST: manifestFile,
      });
      expect(run.output).toMatch(/\nOK\n/);
      expect(run.output).not.toMatch(/skipped/);
      expect(run.code, run.output).toBe(0);

      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
      expect(manifest.predictions).toHaveLength(25);
      const predictions = await testDb
        .db('predictions')
        .where({ model_name: model })
        .orderBy('ts_pred')
        .select('prediction_id', 'model_version', 'score', 'ts_pred', 'entity_ids', 'region', 'segment', 'threshold');
      // The rejected one (propensity 1.5) and the one sent with a wrong token are not stored.
      expect(predictions).toEqual(
        manifest.predictions.map((p) => ({
          prediction_id: p.prediction_id,
          model_version: p.model_version,
          score: p.score,
          ts_pred: new Date(p.ts_pred),
          entity_ids: p.entity_ids,
          region: p.region,
          segment: p.segment,
          threshold: p.threshold,
        })),
      );

      const ids = manifest.predictions.map((p) => p.prediction_id);
      const outcomes = await testDb
        .db('outcomes')
        .whereIn('prediction_id', ids)
        .orderBy('outcome_id')
        .select('outcome_id', 'prediction_id', 'outcome_type', 'value', 'ts_event');
      expect(outcomes).toEqual(
        manifest.outcomes.map((o) => ({ ...o, ts_event: new Date(o.ts_event) })).sort((a, b) => (a.outcome_id < b.outcome_id ? -1 : 1)),
      );
      expect(outcomes).toHaveLength(6);

      const actions = await testDb
        .db('actions')
        .whereIn('prediction_id', ids)
        .orderBy('prediction_id')
        .select('prediction_id', 'action', 'ts_action', 'policy', 'propensity');
      expect(actions).toEqual(
        manifest.actions
          .map((a) => ({ ...a, ts_action: new Date(a.ts_action) }))
          .sort((a, b) => (a.prediction_id < b.prediction_id ? -1 : 1)),
      );
      expect(actions).toHaveLength(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
