import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { PredictionNotFoundError, tracePrediction } from '../../activities/evaluate/trace-prediction';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

const testDb = useTestDatabase();
const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');
const DAY = 86_400_000;
const T = Date.parse('2026-03-02T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const first = randomUUID();
const rescored = randomUUID();
const base = { model_name: 'fraud', model_version: 'v1', environment: 'prod', score: 0.7, segment: {}, request_id: null, item_id: null };
const outcome = (outcome_id: string, fields: Record<string, unknown>) => ({
  outcome_id,
  prediction_id: null,
  request_id: null,
  item_id: null,
  entity_ids: {},
  outcome_type: 'chargeback',
  value: 10,
  source: 'test',
  ...fields,
});

let definition: LabelDefinition;

beforeAll(async () => {
  await storeRows(testDb.db, 'predictions', [
    { ...base, prediction_id: first, ts_pred: iso(T), entity_ids: { user_id: 'u1' } },
    { ...base, prediction_id: rescored, ts_pred: iso(T + 3 * DAY), entity_ids: { user_id: 'u1' } },
  ]);
  await storeRows(testDb.db, 'outcomes', [
    outcome('decides', { prediction_id: first, ts_event: iso(T + DAY), ts_received: iso(T + DAY) }),
    outcome('leak', { prediction_id: first, ts_event: iso(T - DAY), ts_received: iso(T) }),
    outcome('id-history', { prediction_id: first, ts_event: iso(T - 30 * DAY), ts_received: iso(T - 29 * DAY) }),
    outcome('too-late', { prediction_id: first, ts_event: iso(T + 20 * DAY), ts_received: iso(T + 20 * DAY) }),
    outcome('unnamed', { prediction_id: first, outcome_type: 'click', ts_event: iso(T + DAY), ts_received: iso(T + DAY) }),
    outcome('not-yet', { prediction_id: first, ts_event: iso(T + 2 * DAY), ts_received: iso(T + 40 * DAY) }),
    outcome('entity-ours', { entity_ids: { user_id: 'u1' }, ts_event: iso(T + 2 * DAY), ts_received: iso(T + 2 * DAY) }),
    outcome('entity-rescored', { entity_ids: { user_id: 'u1' }, ts_event: iso(T + 4 * DAY), ts_received: iso(T + 4 * DAY) }),
    outcome('entity-leak', { entity_ids: { user_id: 'u1' }, ts_event: iso(T - 2 * DAY), ts_received: iso(T - DAY) }),
    outcome('entity-history', { entity_ids: { user_id: 'u1' }, ts_event: iso(T - 30 * DAY), ts_received: iso(T - 29 * DAY) }),
  ]);
  definition = (
    await putLabelDefinition(testDb.db, {
      name: 'fraud-trace',
      version: 1,
      model_name: 'fraud',
      task: 'binary',
      window: 'P10D',
      positive_outcome_types: ['chargeback'],
      absent_means: 'negative',
      entity_key: 'user_id',
    })
  ).definition;
});

function hindsight(args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: testDb.url } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('hindsight trace', () => {
  it('lists every outcome that matched the prediction or was rejected for it, with the reason', () => {
    const { code, stdout, stderr } = hindsight([
      'trace',
      first,
      '--label-definition',
      'fraud-trace',
      '--as-of',
      iso(T + 30 * DAY),
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const trace = JSON.parse(stdout);
    const verdicts = Object.fromEntries(
      trace.outcomes.map((o: { outcome_id: string; verdict: string; decides_label: boolean }) => [
        o.outcome_id,
        [o.verdict, o.decides_label],
      ]),
    );
    expect(verdicts).toEqual({
      'id-history': ['history_before_leakage_horizon', false],
      'entity-history': ['history_before_first_prediction', false],
      'entity-leak': ['rejected_before_prediction', false],
      leak: ['rejected_before_prediction', false],
      decides: ['joined', false],
      unnamed: ['outcome_type_not_in_definition', false],
      'entity-ours': ['joined', true],
      'not-yet': ['not_received_by_as_of', false],
      'entity-rescored': ['attributed_to_another_prediction', false],
      'too-late': ['outside_window', false],
    });
    expect(trace.outcomes.find((o: { outcome_id: string }) => o.outcome_id === 'entity-rescored').attributed_to).toBe(rescored);
    expect(trace.label).toEqual({ value: 1, status: 'final', outcome_id: 'entity-ours', join_path: 'by_entity_window', outcome_value: 10 });
  });

  it('shows the re-scored prediction the entity outcome it owns', async () => {
    const trace = await tracePrediction(testDb.db, rescored, definition, iso(T + 30 * DAY));
    const joined = trace.outcomes.filter((o) => o.verdict === 'joined').map((o) => o.outcome_id);
    expect(joined).toEqual(['entity-rescored']);
    expect(trace.outcomes.find((o) => o.outcome_id === 'entity-ours')!.attributed_to).toBe(first);
  });

  it('traces a prediction under a definition without an entity_key: its id-joined outcomes, no entity candidates', async () => {
    const byId = (
      await putLabelDefinition(testDb.db, {
        name: 'fraud-trace-by-id',
        version: 1,
        model_name: 'fraud',
        task: 'binary',
        window: 'P10D',
        positive_outcome_types: ['chargeback'],
        absent_means: 'negative',
      })
    ).definition;
    const trace = await tracePrediction(testDb.db, first, byId, iso(T + 30 * DAY));
    expect(trace.outcomes.map((o) => o.outcome_id).sort()).toEqual(['decides', 'id-history', 'leak', 'not-yet', 'too-late', 'unnamed']);
    expect(trace.label).toEqual({ value: 1, status: 'final', outcome_id: 'decides', join_path: 'by_prediction_id', outcome_value: 10 });
  });

  it('traces by the id ingest accepted, though it is not RFC 4122 and was sent in upper case', async () => {
    // 8-4-4-4-12 hex with version nibble 0 and variant bits 0: ingest, trace, ope and serve share one rule.
    const id = 'ABCDEF01-2345-0789-0BCD-EF0123456789';
    const file = path.join(os.tmpdir(), `hindsight-trace-${randomUUID()}.ndjson`);
    await writeFile(file, `${JSON.stringify({ ...base, prediction_id: id, ts_pred: iso(T), entity_ids: {} })}\n`);
    const env = { DATABASE_URL: testDb.url };
    expect((await runHindsightInProcess(['ingest', 'predictions', file], env)).code).toBe(0);
    const run = await runHindsightInProcess(['trace', id, '--label-definition', 'fraud-trace', '--as-of', iso(T + DAY), '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).prediction.prediction_id).toBe(id.toLowerCase());
  });

  it('fails with a message naming an unknown prediction', async () => {
    const missing = randomUUID();
    await expect(tracePrediction(testDb.db, missing, definition, iso(T))).rejects.toThrow(PredictionNotFoundError);
    await expect(tracePrediction(testDb.db, missing, definition, iso(T))).rejects.toThrow(`prediction ${missing} not found`);
  });

  it('refuses an --as-of before the prediction was made (exit 2)', async () => {
    const run = await runHindsightInProcess(['trace', first, '--label-definition', 'fraud-trace', '--as-of', iso(T - DAY)], {
      DATABASE_URL: testDb.url,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `hindsight: trace: --as-of ${iso(T - DAY)} is before the prediction was made (ts_pred ${iso(T)}): ` +
        'no outcome of it can have been received by then\n',
    );
  });
});
