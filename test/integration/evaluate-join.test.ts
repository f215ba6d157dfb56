import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { exportEvaluation } from '../../activities/evaluate/export-evaluation';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { createRandom } from '../../cli/sample-cohort';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import {
  candidatesFor,
  referenceJoin,
  referenceMetrics,
  sliceValue,
  type RefCohort,
  type RefDefinition,
  type RefOutcome,
  type RefPrediction,
  type RefResult,
} from '../support/reference-join';
import { type LabelDefinition } from '../../contracts/label-definition';
import { type EvaluationDocument } from '../../contracts/evaluation';

const testDb = useTestDatabase();

const DAY = 86_400_000;
const BASE = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW_DAYS = 5;
const SLICES = ['region', 'segment.device'];
const COHORT: RefCohort = { model_name: 'fraud', model_version: 'v2', environment: null, start: iso(BASE), end: iso(BASE + 7 * DAY) };
const AS_OFS = [iso(BASE + 4 * DAY), iso(BASE + 9 * DAY + 3_600_000), iso(BASE + 12 * DAY), iso(BASE + 29 * DAY)];

/**
 * A scenario that exercises every rule of docs/label-semantics.md: id joins, request+item
 * joins, entity joins with re-scored entities (several predictions per user, some outside
 * the cohort or in another environment), a v1 model whose predictions must not capture
 * entity outcomes, leakage, events past the window, late receipts, ties, and outcomes
 * that name nothing.
 */
function generateScenario(seed: number): { predictions: RefPrediction[]; outcomes: RefOutcome[]; late: RefOutcome[] } {
  const random = createRandom(seed);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const predictions: RefPrediction[] = [];
  const outcomes: RefOutcome[] = [];
  const late: RefOutcome[] = [];
  const minute = (ms: number) => Math.floor(ms / 60_000) * 60_000;
  const outcomeTiming = (tsPred: number) => {
    // Events from a day before the prediction (leakage) to two days past the window.
    const event = minute(tsPred + (random() * (WINDOW_DAYS + 3) - 1) * DAY);
    return { ts_event: iso(event), ts_received: iso(minute(event + random() * 6 * DAY)) };
  };
  const prediction = (i: number, version: string, tsPred: number): RefPrediction => {
    const request = version === 'v2' && i % 3 === 0;
    return {
      prediction_id: randomUUID(),
      model_name: 'fraud',
      model_version: version,
      environment: i % 5 === 0 ? 'shadow' : 'prod',
      ts_pred: iso(tsPred),
      score: Math.round(random() * 20) / 20,
      request_id: request ? `r${i}` : null,
      item_id: request ? `item${i % 4}` : null,
      entity_ids: { user_id: `u${Math.floor(random() * 30)}`, transaction_id: `t${version}-${i}` },
      region: pick(['eu', 'us']),
      segment: { device: pick(['ios', 'android', 'web']) },
    };
  };

  for (let i = 0; i < 240; i++) predictions.push(prediction(i, 'v2', minute(BASE - 4 * DAY + random() * 16 * DAY)));
  // The same user scored twice at the same instant: the larger prediction_id is the latest.
  predictions[1] = {
    ...predictions[1]!,
    ts_pred: predictions[0]!.ts_pred,
    entity_ids: { ...predictions[0]!.entity_ids, transaction_id: 'tie' },
  };
  for (let i = 0; i < 40; i++) predictions.push(prediction(1000 + i, 'v1', minute(BASE - 4 * DAY + random() * 16 * DAY)));
  const v2 = predictions.filter((p) => p.model_version === 'v2');

  let n = 0;
  const id = (kind: string) => `${kind}-${++n}`;
  const type = (p: { score: number } | null) => (random() < (p ? p.score : 0.4) ? 'chargeback' : 'review_ok');
  for (const p of v2) {
    if (random() < 0.4) {
      outcomes.push({
        outcome_id: id('pid'),
        prediction_id: p.prediction_id,
        request_id: null,
        item_id: null,
        entity_ids: {},
        outcome_type: type(p),
        value: Math.round(random() * 500),
        ...outcomeTiming(Date.parse(p.ts_pred)),
      });
    }
    if (p.request_id && random() < 0.5) {
      // Carries the user too: request_id + item_id takes precedence over the entity.
      outcomes.push({
        outcome_id: id('req'),
        prediction_id: null,
        request_id: p.request_id,
        item_id: p.item_id,
        entity_ids: { user_id: p.entity_ids.user_id! },
        outcome_type: type(p),
        value: Math.round(random() * 500),
        ...outcomeTiming(Date.parse(p.ts_pred)),
      });
    }
  }
  for (let i = 0; i < 90; i++) {
    const event = minute(BASE - 6 * DAY + random() * 24 * DAY);
    outcomes.push({
      outcome_id: id('ent'),
      prediction_id: null,
      // A request_id without item_id is not a request+item key: the entity decides.
      request_id: i % 7 === 0 ? `r${i}` : null,
      item_id: null,
      entity_ids: { user_id: `u${Math.floor(random() * 32)}` },
      outcome_type: i % 11 === 0 ? 'click' : type(null),
      // Some carry no value: a regression target must come from an outcome that has one.
      value: i % 4 === 0 ? null : Math.round(random() * 500),
      ts_event: iso(event),
      ts_received: iso(minute(event + random() * 8 * DAY)),
    });
  }
  const first = v2.find((p) => Date.parse(p.ts_pred) >= BASE + DAY && Date.parse(p.ts_pred) < BASE + 5 * DAY)!;
  const at = Date.parse(first.ts_pred);
  const exact = (kind: string, eventMs: number, outcomeType = 'chargeback') => ({
    outcome_id: id(kind),
    prediction_id: first.prediction_id,
    request_id: null,
    item_id: null,
    entity_ids: {},
    outcome_type: outcomeType,
    value: 7,
    ts_event: iso(eventMs),
    ts_received: iso(eventMs + DAY),
  });
  outcomes.push(
    exact('at-pred', at, 'review_ok'),
    exact('at-window-end', at + WINDOW_DAYS * DAY),
    exact('just-before', at - 1),
    // Same instant, opposite verdicts: absent_means unknown gives the tie to the positive.
    exact('tie-neg', at + DAY, 'review_ok'),
    exact('tie-pos', at + DAY, 'chargeback'),
  );
  // A user first scored in the cohort: an event a day before is leakage, one a week before
  // (more than the window) is history.
  const newcomer = { ...prediction(999, 'v2', BASE + 2 * DAY), entity_ids: { user_id: 'u-new' } };
  predictions.push(newcomer);
  for (const [kind, eventMs] of [
    ['newcomer-leak', BASE + DAY],
    ['newcomer-history', BASE - 6 * DAY],
  ] as const) {
    outcomes.push({
      outcome_id: id(kind),
      prediction_id: null,
      request_id: null,
      item_id: null,
      entity_ids: { user_id: 'u-new' },
      outcome_type: 'chargeback',
      value: 5,
      ts_event: iso(eventMs),
      ts_received: iso(eventMs + DAY),
    });
  }
  // Outcomes whose key names nothing at all.
  for (let i = 0; i < 3; i++) {
    outcomes.push({
      outcome_id: id('orphan-id'),
      prediction_id: randomUUID(),
      request_id: null,
      item_id: null,
      entity_ids: {},
      outcome_type: 'chargeback',
      value: 1,
      ts_event: iso(BASE + (i + 1) * DAY),
      ts_received: iso(BASE + (i + 2) * DAY),
    });
    outcomes.push({
      outcome_id: id('orphan-req'),
      prediction_id: null,
      request_id: 'r-none',
      item_id: `item${i}`,
      entity_ids: {},
      outcome_type: 'chargeback',
      value: 1,
      ts_event: iso(BASE + (i + 1) * DAY),
      ts_received: iso(BASE + (i + 2) * DAY),
    });
  }
  // Arrive after every as-of the main tests use, though most happened long before.
  for (const p of v2.slice(0, 60)) {
    const event = Date.parse(p.ts_pred) + Math.floor(random() * WINDOW_DAYS * DAY);
    late.push({
      outcome_id: id('late'),
      prediction_id: p.prediction_id,
      request_id: null,
      item_id: null,
      entity_ids: {},
      outcome_type: 'chargeback',
      value: 3,
      ts_event: iso(event),
      ts_received: iso(BASE + 40 * DAY),
    });
  }
  return { predictions, outcomes, late };
}

const scenario = generateScenario(20260101);
let workDir: string;

const ingest = (kind: 'predictions' | 'outcomes', records: object[]) => storeRows(testDb.db, kind, records);

function definitionInput(name: string, absentMeans: 'negative' | 'unknown') {
  return {
    name,
    version: 1,
    model_name: 'fraud',
    task: 'binary',
    window: `P${WINDOW_DAYS}D`,
    checkpoints: ['P2D'],
    positive_outcome_types: ['chargeback'],
    negative_outcome_types: ['review_ok'],
    absent_means: absentMeans,
    entity_key: 'user_id',
    slices: SLICES,
  };
}

function refDefinition(def: LabelDefinition): RefDefinition {
  return {
    task: def.task,
    windowMs: WINDOW_DAYS * DAY,
    positive_outcome_types: def.positive_outcome_types,
    negative_outcome_types: def.negative_outcome_types,
    outcome_types: def.outcome_types,
    absent_means: def.absent_means,
    entity_key: def.entity_key ?? null,
    slices: def.slices,
  };
}

const definitions: Record<'negative' | 'unknown' | 'regression', LabelDefinition> = {} as never;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-join-'));
  await ingest('predictions', scenario.predictions);
  await ingest('outcomes', scenario.outcomes);
  definitions.negative = (await putLabelDefinition(testDb.db, definitionInput('fraud-absent-negative', 'negative'))).definition;
  definitions.unknown = (await putLabelDefinition(testDb.db, definitionInput('fraud-absent-unknown', 'unknown'))).definition;
  definitions.regression = (
    await putLabelDefinition(testDb.db, {
      ...definitionInput('fraud-loss', 'unknown'),
      task: 'regression',
      positive_outcome_types: [],
      negative_outcome_types: [],
      outcome_types: ['chargeback', 'review_ok'],
    })
  ).definition;
});

function expectMetricsMatch(actual: Record<string, unknown>, expected: ReturnType<typeof referenceMetrics>, where: string): void {
  expect({ where, n: actual.n, n_labeled: actual.n_labeled, n_positive: actual.n_positive }).toEqual({
    where,
    n: expected.n,
    n_labeled: expected.n_labeled,
    n_positive: expected.n_positive,
  });
  for (const metric of ['label_availability', 'roc_auc'] as const) {
    const value = actual[metric] as number | null;
    if (expected[metric] === null) expect(value, `${where} ${metric}`).toBeNull();
    else expect(Math.abs(value! - expected[metric]!), `${where} ${metric}: ${value} vs ${expected[metric]}`).toBeLessThan(1e-9);
  }
}

function expectDocumentMatchesReference(document: EvaluationDocument, reference: RefResult, cohort: RefCohort): void {
  expect(document.join).toEqual(reference.join);
  expectMetricsMatch(document.overall as never, referenceMetrics(reference.labels), 'overall');
  for (const dimension of SLICES) {
    const values = [...new Set(reference.labels.map((label) => sliceValue(label.prediction, dimension)))];
    for (const value of values) {
      const slice = document.slices.find((candidate) => candidate.dimension === dimension && candidate.value === value);
      expect(slice, `slice ${dimension}=${value} of ${cohort.environment ?? 'all'}`).toBeDefined();
      const labels = reference.labels.filter((label) => sliceValue(label.prediction, dimension) === value);
      expectMetricsMatch(slice as never, referenceMetrics(labels), `${dimension}=${value}`);
    }
  }
}

async function exportedLabels(def: LabelDefinition, cohort: RefCohort, asOf: string): Promise<Array<Record<string, unknown>>> {
  const out = path.join(workDir, `export-${randomUUID()}.ndjson`);
  const result = await exportEvaluation(testDb.db, { cohort, definition: def, asOf, out, format: 'ndjson' });
  const rows = (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(result.rows).toBe(rows.length);
  return rows;
}

describe.each(['negative', 'unknown'] as const)('the SQL join with absent_means %s', (absentMeans) => {
  it('exercises every join path and rejection in the scenario (so the comparisons below mean something)', () => {
    const def = definitions[absentMeans];
    const totals = AS_OFS.map((asOf) => referenceJoin(scenario.predictions, scenario.outcomes, COHORT, refDefinition(def), asOf).join);
    for (const key of Object.keys(totals[0]!) as Array<keyof RefResult['join']>) {
      expect(Math.max(...totals.map((join) => join[key])), key).toBeGreaterThan(0);
    }
    const final = referenceJoin(scenario.predictions, scenario.outcomes, COHORT, refDefinition(def), AS_OFS[3]!);
    const byEntity = final.labels.filter((label) => label.path === 'by_entity_window');
    expect(byEntity.length).toBeGreaterThan(3);
    // Re-scored entities: outcomes of users this cohort predicted for that belong to a later
    // or earlier prediction outside it (another cohort or environment).
    const cohortUsers = new Set(final.labels.map((label) => label.prediction.entity_ids.user_id));
    const elsewhere = scenario.outcomes.filter((o) => {
      if (o.prediction_id || (o.request_id && o.item_id) || !cohortUsers.has(o.entity_ids.user_id)) return false;
      const owner = candidatesFor(o, scenario.predictions, COHORT, refDefinition(def))?.predictions[0];
      return owner !== undefined && final.labels.every((label) => label.prediction.prediction_id !== owner.prediction_id);
    });
    expect(elsewhere.length).toBeGreaterThan(3);
  });

  it.each(AS_OFS)(
    'gives the join counts, counts, label availability and ROC AUC of the reference join, overall and per slice, as of %s',
    async (asOf) => {
      testDb.keepOnFailure();
      const def = definitions[absentMeans];
      const document = await evaluateCohort(testDb.db, COHORT, def, asOf);
      expectDocumentMatchesReference(
        document,
        referenceJoin(scenario.predictions, scenario.outcomes, COHORT, refDefinition(def), asOf),
        COHORT,
      );
    },
  );

  it('lets a prediction of the same model version in another environment take an entity outcome away from the cohort', async () => {
    const def = definitions[absentMeans];
    const prod: RefCohort = { ...COHORT, environment: 'prod' };
    const document = await evaluateCohort(testDb.db, prod, def, AS_OFS[3]!);
    expectDocumentMatchesReference(
      document,
      referenceJoin(scenario.predictions, scenario.outcomes, prod, refDefinition(def), AS_OFS[3]!),
      prod,
    );
  });

  it.each(AS_OFS)(
    'exports for every prediction the label, label status, deciding outcome, join path and outcome value of the reference as of %s',
    async (asOf) => {
      const def = definitions[absentMeans];
      const rows = await exportedLabels(def, COHORT, asOf);
      const reference = referenceJoin(scenario.predictions, scenario.outcomes, COHORT, refDefinition(def), asOf);
      const actual = Object.fromEntries(
        rows.map((row) => [row.prediction_id, [row.label, row.label_status, row.outcome_id, row.join_path, row.outcome_value]]),
      );
      const expected = Object.fromEntries(
        reference.labels.map((label) => [
          label.prediction.prediction_id,
          [label.y, label.status, label.outcome_id, label.path, label.outcome_value],
        ]),
      );
      expect(actual).toEqual(expected);
    },
  );
});

describe('the SQL join for a regression definition', () => {
  it.each(AS_OFS)(
    'takes the value of the latest joined outcome that has one as the target, as the reference does, as of %s',
    async (asOf) => {
      const def = definitions.regression;
      const reference = referenceJoin(scenario.predictions, scenario.outcomes, COHORT, refDefinition(def), asOf);
      const document = await evaluateCohort(testDb.db, COHORT, def, asOf);
      expect(document.join).toEqual(reference.join);
      expect([document.overall.n, document.overall.n_labeled]).toEqual([
        reference.labels.length,
        reference.labels.filter((label) => label.target !== null).length,
      ]);
      const rows = await exportedLabels(def, COHORT, asOf);
      const actual = Object.fromEntries(
        rows.map((row) => [row.prediction_id, [row.label, row.label_status, row.outcome_id, row.join_path]]),
      );
      const expected = Object.fromEntries(
        reference.labels.map((label) => [label.prediction.prediction_id, [label.target, label.status, label.outcome_id, label.path]]),
      );
      expect(actual).toEqual(expected);
    },
  );
});

describe('re-running an evaluation', () => {
  it('gives identical numbers for the same as-of after more outcomes arrived, and counts them at a later as-of', async () => {
    const def = definitions.negative;
    const before = await Promise.all(AS_OFS.map((asOf) => evaluateCohort(testDb.db, COHORT, def, asOf)));
    await ingest('outcomes', scenario.late);
    const after = await Promise.all(AS_OFS.map((asOf) => evaluateCohort(testDb.db, COHORT, def, asOf)));
    expect(after).toEqual(before);

    const later = iso(BASE + 41 * DAY);
    const all = [...scenario.outcomes, ...scenario.late];
    const document = await evaluateCohort(testDb.db, COHORT, def, later);
    const reference = referenceJoin(scenario.predictions, all, COHORT, refDefinition(def), later);
    expectDocumentMatchesReference(document, reference, COHORT);
    expect(document.join.by_prediction_id).toBeGreaterThan(before[3]!.join.by_prediction_id);
  });
});
