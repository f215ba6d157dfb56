import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getLabelDefinition, putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { requireBinary } from '../../activities/report/report-snapshots';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

/**
 * `evaluate` under a `task: "ranking"` definition against test/fixtures/ranking/generate.py:
 * the clicks case through positive_outcome_types, a graded case through outcome values.
 */
interface Request {
  request_id: string;
  segment: string;
  score: number[];
  relevance: number[];
  position: number[];
}
type Summary = Record<string, number | null>;
interface Case {
  name: string;
  k: number;
  graded: boolean;
  requests: Request[];
  expected: { overall: Summary; by_segment: Record<string, Summary>; shown_order: Summary };
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'ranking', 'ranking.json'), 'utf8')) as { cases: Case[] };
const [clicks, graded] = fixture.cases as [Case, Case];

const testDb = useTestDatabase();
const T = Date.parse('2026-06-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const COHORT = ['--version', 'v1', '--from', iso(T), '--to', iso(T + 86_400_000), '--as-of', iso(T + 30 * 86_400_000)];

async function store(model: string, c: Case, { scored = true } = {}): Promise<void> {
  const predictions: Array<Record<string, unknown>> = [];
  const outcomes: Array<Record<string, unknown>> = [];
  c.requests.forEach((request, q) =>
    request.score.forEach((score, i) => {
      const prediction_id = randomUUID();
      predictions.push({
        prediction_id,
        model_name: model,
        model_version: 'v1',
        ts_pred: iso(T + q * 60_000),
        ...(scored ? { score } : { action: `item-${i}` }),
        entity_ids: {},
        segment: { surface: request.segment },
        request_id: request.request_id,
        item_id: `item-${i}`,
        position: request.position[i],
      });
      const relevance = request.relevance[i]!;
      if (relevance > 0)
        outcomes.push({
          outcome_id: `${model}-${q}-${i}`,
          prediction_id,
          entity_ids: {},
          outcome_type: c.graded ? 'purchase' : 'click',
          ...(c.graded ? { value: relevance } : {}),
          ts_event: iso(T + q * 60_000 + 3_600_000),
          ts_received: iso(T + q * 60_000 + 3_600_000),
        });
    }),
  );
  // A prediction without a request, scored outside [0, 1]: counted, left out of the ranking metrics
  // (and, under click relevance, out of the binary suite, which reads scores as probabilities).
  predictions.push({
    prediction_id: randomUUID(),
    model_name: model,
    model_version: 'v1',
    ts_pred: iso(T),
    score: 7,
    entity_ids: {},
    segment: {},
  });
  await storeRows(testDb.db, 'predictions', predictions);
  await storeRows(testDb.db, 'outcomes', outcomes);
  await putLabelDefinition(testDb.db, {
    name: `${model}-relevance`,
    version: 1,
    model_name: model,
    task: 'ranking',
    window: 'P7D',
    k: c.k,
    slices: ['segment.surface'],
    ...(c.graded ? { outcome_types: ['purchase'] } : { positive_outcome_types: ['click'] }),
  });
}

beforeAll(async () => {
  await store('shop-clicks', clicks);
  await store('shop-graded', graded);
  await store('shop-shown', clicks, { scored: false });
});

function expectSummary(got: Record<string, number | null>, expected: Summary, what: string) {
  expect([got.k, got.n_requests, got.n_requests_with_relevant], what).toEqual([
    expected.k,
    expected.n_requests,
    expected.n_requests_with_relevant,
  ]);
  expect(got.n_final_requests, what).toBe(expected.n_requests);
  for (const key of ['ndcg', 'mrr', 'hit_rate', 'precision', 'recall'])
    expect(Math.abs(got[key]! - expected[key]!), `${what} ${key}: ${got[key]} vs ${expected[key]}`).toBeLessThan(1e-9);
}

describe('evaluate under a ranking definition', () => {
  it.each([
    ['shop-clicks', clicks],
    ['shop-graded', graded],
  ] as const)(
    '%s: per request NDCG@k, MRR, hit rate, precision and recall, overall and per slice, equal the reference',
    async (model, c) => {
      const run = await runHindsightInProcess(
        ['evaluate', '--model', model, ...COHORT, '--label-definition', `${model}-relevance`, '--json'],
        { DATABASE_URL: testDb.url },
      );
      expect(run.code).toBe(0);
      const document = JSON.parse(run.stdout);
      expect(document.label_definition.task).toBe('ranking');
      expect(document.excluded.without_request).toBe(1);
      const rows = c.requests.reduce((sum, request) => sum + request.score.length, 0);
      expect([document.excluded.invalid_score, document.overall.n]).toEqual(c.graded ? [0, rows + 1] : [1, rows]);
      expectSummary(document.overall.ranking, c.expected.overall, 'overall');
      for (const [segment, expected] of Object.entries(c.expected.by_segment)) {
        const slice = document.slices.find((s: { value: string }) => s.value === segment);
        expectSummary(slice.ranking, expected, segment);
      }
      // The item-level suite is that of the relevance: binary for clicks, regression for graded values.
      expect('roc_auc' in document.overall).toBe(!c.graded);
      const human = await runHindsightInProcess(['evaluate', '--model', model, ...COHORT, '--label-definition', `${model}-relevance`], {
        DATABASE_URL: testDb.url,
      });
      // Whether the labels of every request are final shows in text too, as in the JSON.
      expect(human.stdout).toContain(
        `  ranking@${c.k}: requests=${c.expected.overall.n_requests} final=${document.overall.ranking.n_final_requests} ndcg=`,
      );
    },
  );

  it('ranks a request that logs no scores as shown, by position, and leaves its rows out of the score metrics, counted', async () => {
    const run = await runHindsightInProcess(
      ['evaluate', '--model', 'shop-shown', ...COHORT, '--label-definition', 'shop-shown-relevance', '--json'],
      {
        DATABASE_URL: testDb.url,
      },
    );
    const document = JSON.parse(run.stdout);
    const rows = clicks.requests.reduce((sum, request) => sum + request.score.length, 0);
    expect(document.excluded).toMatchObject({ no_score: rows, invalid_score: 1, without_request: 1 });
    expect(document.overall.n).toBe(0);
    expectSummary(document.overall.ranking, clicks.expected.shown_order, 'shown order');
  });

  it('ingests an unscored prediction with an action and a position for a model whose binary definition holds scores to [0, 1]', async () => {
    await putLabelDefinition(testDb.db, {
      name: 'shop-buy',
      version: 1,
      model_name: 'shop-binary',
      task: 'binary',
      window: 'P7D',
      positive_outcome_types: ['buy'],
    });
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'hindsight-ranking-')), 'predictions.ndjson');
    const base = {
      model_name: 'shop-binary',
      model_version: 'v1',
      ts_pred: '2026-06-01 10:00:00+00:00',
      request_id: 'r1',
      action: 'item-1',
    };
    await writeFile(
      file,
      [
        { ...base, prediction_id: randomUUID(), position: 1 },
        { ...base, prediction_id: randomUUID() },
      ]
        .map((record) => JSON.stringify(record))
        .join('\n') + '\n',
    );
    const run = await runHindsightInProcess(['ingest', 'predictions', file, '--json'], { DATABASE_URL: testDb.url });
    const report = JSON.parse(run.stdout);
    expect(report.accepted).toBe(1);
    expect(report.rejected).toEqual([expect.objectContaining({ line: 2, field: 'score' })]);
    const [stored] = await testDb.db('predictions').where({ model_name: 'shop-binary' }).select('score', 'ts_pred');
    expect(stored.score).toBeNull();
    expect(new Date(stored.ts_pred).toISOString()).toBe('2026-06-01T10:00:00.000Z');
  });

  it('is refused by name and task where a binary definition is needed (a report)', async () => {
    const definition = await getLabelDefinition(testDb.db, { name: 'shop-clicks-relevance' });
    expect(() => requireBinary(definition)).toThrow('label definition shop-clicks-relevance@1 is a ranking definition; a report draws');
  });

  it('refuses a ranking definition with both or neither relevance source, and k on another task, naming the field', async () => {
    const put = (definition: Record<string, unknown>) =>
      putLabelDefinition(testDb.db, { name: 'bad', version: 1, model_name: 'shop-clicks', window: 'P7D', ...definition });
    await expect(put({ task: 'ranking' })).rejects.toThrow(
      /positive_outcome_types: a ranking definition needs either positive_outcome_types/,
    );
    await expect(put({ task: 'binary', positive_outcome_types: ['click'], k: 5 })).rejects.toThrow(
      /k: k is the cut-off of ranking metrics; this definition's task is binary/,
    );
  });
});
