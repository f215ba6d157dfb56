import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { applyRetention, planRetention } from '../../sql/retention';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const NOW = '2026-11-15T00:00:00Z';
const old = randomUUID();
const recent = randomUUID();

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-retention-'));
  const predictions = path.join(dir, 'p.ndjson');
  await writeFile(
    predictions,
    [
      { prediction_id: old, model_name: 'fraud', model_version: '1', ts_pred: '2026-01-10T00:00:00Z', score: 0.2 },
      { prediction_id: recent, model_name: 'fraud', model_version: '1', ts_pred: '2026-10-10T00:00:00Z', score: 0.8 },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  await ingestNdjsonFile(testDb.db, 'predictions', predictions);
  const outcomes = path.join(dir, 'o.ndjson');
  await writeFile(
    outcomes,
    JSON.stringify({
      outcome_id: 'o-old',
      prediction_id: old,
      outcome_type: 'chargeback',
      ts_event: '2026-02-01T00:00:00Z',
      ts_received: '2026-02-02T00:00:00Z',
    }),
  );
  await ingestNdjsonFile(testDb.db, 'outcomes', outcomes);
  await putLabelDefinition(testDb.db, {
    name: 'chargeback-90d',
    version: 1,
    model_name: 'fraud',
    task: 'binary',
    window: 'P90D',
    positive_outcome_types: ['chargeback'],
    late_label_grace: 'P30D',
  });
});

describe('retention', () => {
  it('refuses a policy shorter than the longest label window plus its late-label grace', async () => {
    await expect(planRetention(testDb.db, { keep: 'P100D', now: NOW })).rejects.toThrow(/too short: .*chargeback-90d@1/);
  });

  it('plans to drop only whole months older than the policy, changing nothing', async () => {
    const plan = await planRetention(testDb.db, { keep: 'P120D', now: NOW });
    expect(plan.longest_label_delay).toMatchObject({ label_definition: 'chargeback-90d@1' });
    const decisions = Object.fromEntries(plan.partitions.map((p) => [p.partition, p.drop]));
    expect(decisions).toMatchObject({ predictions_2026_01: true, outcomes_2026_02: true, predictions_2026_10: false });
    expect(await testDb.db('predictions').where({ prediction_id: old }).first()).toBeDefined();
  });

  it('drops the old partitions and releases their ids, keeping recent data', async () => {
    const plan = await planRetention(testDb.db, { keep: 'P120D', now: NOW });
    const dropped = await applyRetention(testDb.db, plan);
    expect(dropped.map((p) => p.partition).sort()).toEqual(['outcomes_2026_02', 'predictions_2026_01']);
    expect(await testDb.db('predictions').where({ prediction_id: old }).first()).toBeUndefined();
    expect(await testDb.db('prediction_keys').where({ prediction_id: old }).first()).toBeUndefined();
    expect(await testDb.db('outcome_keys').where({ outcome_id: 'o-old' }).first()).toBeUndefined();
    expect(await testDb.db('predictions').where({ prediction_id: recent }).first()).toBeDefined();
    expect(await testDb.db('prediction_keys').where({ prediction_id: recent }).first()).toBeDefined();
    const tables = (
      await testDb.db.raw("select relname from pg_class where relname in ('predictions_2026_01', 'predictions_2026_10')")
    ).rows.map((r: { relname: string }) => r.relname);
    expect(tables).toEqual(['predictions_2026_10']);
  });
});
