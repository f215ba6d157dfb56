import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCohort, explainEmptyCohort } from '../../activities/evaluate/evaluate-cohort';
import { ingestFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';

const testDb = useTestDatabase();
let dir: string;

const binary = (model: string) => ({
  name: `${model}-cb`,
  version: 1,
  model_name: model,
  task: 'binary',
  window: 'P30D',
  positive_outcome_types: ['chargeback'],
});
const prediction = (model: string, score: number | string, id = randomUUID()) => ({
  prediction_id: id,
  model_name: model,
  model_version: '1',
  ts_pred: '2026-01-10T00:00:00Z',
  score,
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-score-range-'));
});

describe('the score range a binary label definition sets', () => {
  it('is recorded as [0, 1] by the first binary definition put for a model, and not by a regression one', async () => {
    await putLabelDefinition(testDb.db, binary('fraud'));
    await putLabelDefinition(testDb.db, { ...binary('fraud'), name: 'fraud-cb-2' });
    await putLabelDefinition(testDb.db, {
      name: 'ltv',
      version: 1,
      model_name: 'ltv',
      task: 'regression',
      window: 'P30D',
      outcome_types: ['purchase'],
    });
    expect(await testDb.db('model_score_ranges').select('model_name', 'min_score', 'max_score', 'label_definition_name')).toEqual([
      { model_name: 'fraud', min_score: 0, max_score: 1, label_definition_name: 'fraud-cb' },
    ]);
  });

  it('makes ingest reject a prediction of that model scored outside [0, 1], naming the field score', async () => {
    const lines = [
      prediction('fraud', 0),
      prediction('fraud', 1.5),
      prediction('fraud', -0.1),
      prediction('fraud', 1),
      prediction('ltv', 420),
    ];
    const file = await write('p.ndjson', lines.map((line) => JSON.stringify(line)).join('\n'));
    const result = await ingestFile(testDb.db, 'predictions', file);
    expect(result).toMatchObject({ accepted: 3, rejected_count: 2 });
    expect(result.rejected).toEqual([
      {
        line: 2,
        field: 'score',
        error: expect.stringMatching(
          /^score: 1\.5 is outside \[0, 1\], the score range of model fraud \(its binary label definition fraud-cb@1/,
        ),
      },
      { line: 3, field: 'score', error: expect.stringMatching(/^score: -0\.1 is outside \[0, 1\]/) },
    ]);
    expect(await testDb.db('predictions').where({ model_name: 'fraud' }).count('* as n').first()).toEqual({ n: 2 });
  });

  it('rejects NaN, inf and 1e999 in a CSV score for every model: words as not a number, 1e999 as out of range', async () => {
    const file = await write(
      'p.csv',
      [
        'prediction_id,model_name,model_version,ts_pred,score',
        ...['NaN', 'inf', '1e999', '-Infinity'].map((score) => `${randomUUID()},ltv,1,2026-01-10T00:00:00Z,${score}`),
      ].join('\n'),
    );
    const result = await ingestFile(testDb.db, 'predictions', file);
    expect(result.accepted).toBe(0);
    expect(result.rejected.map((r) => [r.line, r.field, r.error])).toEqual([
      [2, 'score', 'score: must be a number'],
      [3, 'score', 'score: must be a number'],
      [4, 'score', 'score: number is out of range (beyond ±1.8e308)'],
      [5, 'score', 'score: must be a number'],
    ]);
  });
});

describe('evaluation of predictions stored before the score range', () => {
  const cohort = {
    model_name: 'legacy',
    model_version: '1',
    environment: null,
    start: '2026-01-01T00:00:00Z',
    end: '2026-02-01T00:00:00Z',
  };
  const positive = randomUUID();

  it('excludes and counts as invalid_score every score outside [0, 1] or NaN, so Brier and log loss see only probabilities', async () => {
    await storeRows(testDb.db, 'predictions', [
      prediction('legacy', 0.2, positive),
      prediction('legacy', 0.6),
      prediction('legacy', 1.7),
      prediction('legacy', -0.5),
      prediction('legacy', 'NaN'),
      prediction('legacy', 'Infinity'),
    ]);
    await storeRows(testDb.db, 'outcomes', [
      {
        outcome_id: 'o1',
        prediction_id: positive,
        outcome_type: 'chargeback',
        ts_event: '2026-01-11T00:00:00Z',
        ts_received: '2026-01-11T00:00:00Z',
      },
    ]);
    const { definition } = await putLabelDefinition(testDb.db, binary('legacy'));
    const document = await evaluateCohort(testDb.db, cohort, definition, '2026-03-01T00:00:00Z');
    expect(document.excluded).toEqual({ invalid_score: 4 });
    expect(document.overall).toMatchObject({ n: 2, n_labeled: 2, n_positive: 1, mean_score: 0.4 });
    expect(document.overall.brier).toBeCloseTo(((0.2 - 1) ** 2 + 0.6 ** 2) / 2, 12);
    expect(document.overall.log_loss).toBeCloseTo(-(Math.log(0.2) + Math.log(0.4)) / 2, 12);
  });

  it('says why a cohort whose every score is out of range has nothing to evaluate', async () => {
    const only = { ...cohort, model_name: 'broken' };
    await storeRows(testDb.db, 'predictions', [prediction('broken', 3), prediction('broken', 4)]);
    const { definition } = await putLabelDefinition(testDb.db, binary('broken'));
    const document = await evaluateCohort(testDb.db, only, definition, '2026-03-01T00:00:00Z');
    expect(document.overall.n).toBe(0);
    expect(await explainEmptyCohort(testDb.db, document)).toMatch(/^all 2 predictions of the cohort have a score outside \[0, 1\]/);
  });
});
