import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

const testDb = useTestDatabase();
const dir = mkdtempSync(path.join(os.tmpdir(), 'hindsight-evaluate-empty-'));

const hindsight = (args: string[]) => runHindsightInProcess(args, { DATABASE_URL: testDb.url });

const cohort = (model: string, version: string, labelDefinition: string) => [
  '--model',
  model,
  '--version',
  version,
  '--from',
  '2026-01-01T00:00:00Z',
  '--to',
  '2026-02-01T00:00:00Z',
  '--label-definition',
  labelDefinition,
];

beforeAll(async () => {
  for (const model of ['fraud', 'ghost']) {
    await putLabelDefinition(testDb.db, {
      name: `${model}-cb`,
      version: 1,
      model_name: model,
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['chargeback'],
    });
  }
  await storeRows(testDb.db, 'predictions', [
    { prediction_id: randomUUID(), model_name: 'fraud', model_version: '1', ts_pred: '2026-01-10T00:00:00Z', score: 0.3 },
  ]);
});

describe('evaluate on a cohort without predictions', () => {
  it('exits 1 saying the version has no predictions, and --json still prints the document with n: 0', async () => {
    const result = await hindsight(['evaluate', ...cohort('fraud', '2', 'fraud-cb'), '--as-of', '2026-03-01T00:00:00Z', '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('nothing to evaluate: model fraud has no predictions of version 2');
    expect(JSON.parse(result.stdout)).toMatchObject({
      overall: { n: 0, n_labeled: 0 },
      cohort: { model_name: 'fraud', model_version: '2' },
    });
  });

  it('exits 1 saying the model has no predictions at all', async () => {
    const result = await hindsight(['evaluate', ...cohort('ghost', '1', 'ghost-cb'), '--as-of', '2026-03-01T00:00:00Z']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no predictions of model ghost are stored');
  });

  it('exits 1 naming the range when the version has predictions elsewhere', async () => {
    const result = await hindsight([
      'evaluate',
      '--model',
      'fraud',
      '--version',
      '1',
      '--from',
      '2026-05-01T00:00:00Z',
      '--to',
      '2026-06-01T00:00:00Z',
      '--label-definition',
      'fraud-cb',
      '--as-of',
      '2026-07-01T00:00:00Z',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('has no predictions with ts_pred in [2026-05-01T00:00:00.000Z, 2026-06-01T00:00:00.000Z)');
  });

  it('exits 0 and says nothing extra for a cohort with predictions', async () => {
    const result = await hindsight(['evaluate', ...cohort('fraud', '1', 'fraud-cb'), '--as-of', '2026-03-01T00:00:00Z', '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout).overall.n).toBe(1);
  });
});

describe('a label definition of another model', () => {
  const refused = 'label definition ghost-cb@1 labels model ghost, not fraud';

  it('is refused by evaluate', async () => {
    const result = await hindsight(['evaluate', ...cohort('fraud', '1', 'ghost-cb'), '--as-of', '2026-03-01T00:00:00Z', '--json']);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain(refused);
  });

  it('is refused by export, latency, cohort start and schedule create, in the same words', async () => {
    const exported = await hindsight([
      'export',
      ...cohort('fraud', '1', 'ghost-cb'),
      '--as-of',
      '2026-03-01T00:00:00Z',
      '--out',
      path.join(dir, 'x.csv'),
    ]);
    expect(exported.code).toBe(2);
    expect(exported.stderr).toContain(refused);
    const latency = await hindsight(['latency', ...cohort('fraud', '1', 'ghost-cb'), '--as-of', '2026-03-01T00:00:00Z']);
    expect(latency.code).toBe(2);
    expect(latency.stderr).toContain(refused);
    const started = await hindsight(['cohort', 'start', ...cohort('fraud', '1', 'ghost-cb')]);
    expect(started.code).toBe(2);
    expect(started.stderr).toContain(refused);
    const scheduled = await hindsight([
      'schedule',
      'create',
      '--model',
      'fraud',
      '--version',
      '1',
      '--label-definition',
      'ghost-cb',
      '--every',
      'P1D',
    ]);
    expect(scheduled.code).toBe(2);
    expect(scheduled.stderr).toContain(refused);
  });

  it('refuses an --as-of before the cohort starts (exit 2) and warns of one before it ends (evaluate, latency)', async () => {
    const iso = (text: string) => new Date(text).toISOString();
    for (const command of ['evaluate', 'latency']) {
      const early = await hindsight([command, ...cohort('fraud', '1', 'fraud-cb'), '--as-of', '2025-12-31T00:00:00Z']);
      expect(early.code, command).toBe(2);
      expect(early.stderr).toBe(
        `hindsight: ${command}: --as-of ${iso('2025-12-31T00:00:00Z')} is before the cohort's start ${iso('2026-01-01T00:00:00Z')}: ` +
          `no outcome of it can have been received by then; give an --as-of at or after ${iso('2026-01-01T00:00:00Z')}\n`,
      );
      const partial = await hindsight([command, ...cohort('fraud', '1', 'fraud-cb'), '--as-of', '2026-01-15T00:00:00Z', '--json']);
      expect(partial.code, command).toBe(0);
      expect(partial.stderr).toContain(
        `hindsight: ${command}: warning: --as-of ${iso('2026-01-15T00:00:00Z')} is before the cohort's end ${iso('2026-02-01T00:00:00Z')}: ` +
          'only outcomes received by then count, so the numbers are partial\n',
      );
    }
  });
});
