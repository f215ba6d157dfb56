import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { referenceJoin, type RefCohort, type RefDefinition, type RefOutcome, type RefPrediction } from '../support/reference-join';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

/**
 * The join reads only outcomes that can matter to the cohort (docs/label-semantics.md,
 * "Leakage horizon"): outcome history of other months, models and entities changes no
 * count, and an outcome further back than the leakage horizon before its prediction is
 * history, not leakage.
 */
const testDb = useTestDatabase();

const DAY = 86_400_000;
const BASE = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW_DAYS = 5;
const COHORT: RefCohort = { model_name: 'fraud', model_version: 'v2', environment: null, start: iso(BASE), end: iso(BASE + 7 * DAY) };
const AS_OF = iso(BASE + 31 * DAY);

let n = 0;
function prediction(model: string, version: string, tsPred: number, keys: Partial<RefPrediction> = {}): RefPrediction {
  return {
    prediction_id: randomUUID(),
    model_name: model,
    model_version: version,
    environment: 'prod',
    ts_pred: iso(tsPred),
    score: 0.5,
    request_id: null,
    item_id: null,
    entity_ids: { user_id: `u-${++n}` },
    region: 'eu',
    segment: {},
    ...keys,
  };
}
function outcome(kind: string, eventMs: number, keys: Partial<RefOutcome>): RefOutcome {
  return {
    outcome_id: `${kind}-${++n}`,
    prediction_id: null,
    request_id: null,
    item_id: null,
    entity_ids: {},
    outcome_type: 'chargeback',
    value: 1,
    ts_event: iso(eventMs),
    ts_received: iso(eventMs + DAY),
    ...keys,
  };
}

const byId = prediction('fraud', 'v2', BASE + DAY);
const byRequest = prediction('fraud', 'v2', BASE + 2 * DAY, { request_id: 'r1', item_id: 'i1' });
const byEntity = prediction('fraud', 'v2', BASE + 3 * DAY, { entity_ids: { user_id: 'u-cohort' } });
const predictions = [byId, byRequest, byEntity];
const at = (p: RefPrediction) => Date.parse(p.ts_pred);

const outcomes: RefOutcome[] = [
  outcome('joined', at(byId) + DAY, { prediction_id: byId.prediction_id }),
  outcome('outside', at(byId) + (WINDOW_DAYS + 4) * DAY, { prediction_id: byId.prediction_id }),
  // Within one window (the default horizon) before its prediction: leakage.
  outcome('leak', at(byId) - 2 * DAY, { prediction_id: byId.prediction_id }),
  // Further back than the default horizon, in earlier months: history, counted nowhere.
  outcome('old-by-id', at(byId) - 20 * DAY, { prediction_id: byId.prediction_id }),
  outcome('old-by-request', at(byRequest) - 40 * DAY, { request_id: 'r1', item_id: 'i1' }),
  outcome('old-by-entity', at(byEntity) - 20 * DAY, { entity_ids: { user_id: 'u-cohort' } }),
  outcome('joined-request', at(byRequest) + DAY, { request_id: 'r1', item_id: 'i1' }),
  outcome('joined-entity', at(byEntity) + DAY, { entity_ids: { user_id: 'u-cohort' } }),
  // Names no prediction at all, inside the cohort's reach.
  outcome('orphan', BASE + 2 * DAY, { prediction_id: randomUUID() }),
];

/** A year of outcomes around the cohort that cannot join it: other months, models and entities. */
function history(): { predictions: RefPrediction[]; outcomes: RefOutcome[] } {
  const others: RefPrediction[] = [];
  const extra: RefOutcome[] = [];
  for (let month = -9; month <= 3; month++) {
    // The cohort's own month holds only its own outcomes (an orphan there would be unmatched).
    if (month === 0) continue;
    const ts = Date.UTC(2026, 2 + month, 10);
    const churn = prediction('churn', 'v1', ts, { request_id: `r-churn-${month}`, item_id: 'i1', entity_ids: { user_id: 'u-cohort' } });
    const oldFraud = month < 0 ? prediction('fraud', 'v2', ts, { entity_ids: { user_id: `u-old-${month}` } }) : null;
    others.push(churn, ...(oldFraud ? [oldFraud] : []));
    for (let i = 0; i < 5; i++) {
      extra.push(
        outcome('h-churn-id', ts + i * DAY, { prediction_id: churn.prediction_id }),
        outcome('h-churn-request', ts + i * DAY, { request_id: churn.request_id, item_id: 'i1' }),
        outcome('h-other-entity', ts + i * DAY, { entity_ids: { user_id: `u-elsewhere-${i}` } }),
        outcome('h-orphan', ts + i * DAY, { prediction_id: randomUUID() }),
      );
      if (oldFraud) extra.push(outcome('h-old-fraud', ts + i * DAY, { prediction_id: oldFraud.prediction_id }));
    }
  }
  return { predictions: others, outcomes: extra };
}

function definitionInput(version: number, extra: object = {}) {
  return {
    name: 'fraud-bounded',
    version,
    model_name: 'fraud',
    task: 'binary',
    window: `P${WINDOW_DAYS}D`,
    positive_outcome_types: ['chargeback'],
    negative_outcome_types: ['review_ok'],
    entity_key: 'user_id',
    ...(version > 1 ? { changelog: 'a longer leakage horizon' } : {}),
    ...extra,
  };
}
function refDefinition(def: LabelDefinition, horizonMs?: number): RefDefinition {
  return {
    task: def.task,
    windowMs: WINDOW_DAYS * DAY,
    ...(horizonMs === undefined ? {} : { horizonMs }),
    positive_outcome_types: def.positive_outcome_types,
    negative_outcome_types: def.negative_outcome_types,
    outcome_types: def.outcome_types,
    absent_means: def.absent_means,
    entity_key: def.entity_key ?? null,
    slices: def.slices,
  };
}

let byWindow: LabelDefinition;
let byLongHorizon: LabelDefinition;
beforeAll(async () => {
  await storeRows(testDb.db, 'predictions', predictions);
  await storeRows(testDb.db, 'outcomes', outcomes);
  byWindow = (await putLabelDefinition(testDb.db, definitionInput(1))).definition;
  byLongHorizon = (await putLabelDefinition(testDb.db, definitionInput(2, { leakage_horizon: 'P60D' }))).definition;
});

describe('bounded reads of the outcome history', () => {
  it('counts leakage only within the horizon before the prediction (default: the window), as the reference does', async () => {
    const document = await evaluateCohort(testDb.db, COHORT, byWindow, AS_OF);
    expect(document.join).toEqual({
      by_prediction_id: 1,
      by_request_item: 1,
      by_entity_window: 1,
      rejected_before_prediction: 1,
      outside_window: 1,
      unmatched: 1,
    });
    expect(document.join).toEqual(referenceJoin(predictions, outcomes, COHORT, refDefinition(byWindow), AS_OF).join);
  });

  it('counts the older outcomes as leakage under a definition whose leakage_horizon reaches them', async () => {
    const document = await evaluateCohort(testDb.db, COHORT, byLongHorizon, AS_OF);
    expect(document.join.rejected_before_prediction).toBe(4);
    expect(document.join).toEqual(referenceJoin(predictions, outcomes, COHORT, refDefinition(byLongHorizon, 60 * DAY), AS_OF).join);
  });

  it('keeps the identity of a definition stored without a leakage_horizon (no default is written into it)', async () => {
    const stored = await testDb.db('label_definitions').where({ name: 'fraud-bounded', version: 1 }).first('definition');
    expect(Object.keys(stored.definition)).not.toContain('leakage_horizon');
    expect((await putLabelDefinition(testDb.db, definitionInput(1))).outcome).toBe('unchanged');
  });

  it('refuses a leakage_horizon beyond 100 years, naming the field', async () => {
    await expect(putLabelDefinition(testDb.db, definitionInput(3, { leakage_horizon: 'P200Y' }))).rejects.toThrow(
      /leakage_horizon: P200Y is too long/,
    );
  });

  it('gives the same documents after a year of outcomes that cannot join the cohort', async () => {
    const before = await Promise.all([byWindow, byLongHorizon].map((def) => evaluateCohort(testDb.db, COHORT, def, AS_OF)));
    const extra = history();
    await storeRows(testDb.db, 'predictions', extra.predictions);
    await storeRows(testDb.db, 'outcomes', extra.outcomes);
    const after = await Promise.all([byWindow, byLongHorizon].map((def) => evaluateCohort(testDb.db, COHORT, def, AS_OF)));
    expect(after).toEqual(before);
  });

  it("counts as unmatched only outcomes in the cohort's reach whose key names no prediction in any month", async () => {
    // Predictions of another model a year back and a year ahead, and outcomes in the cohort's
    // reach that name them by request_id + item_id or by entity: not unmatched, though no
    // prediction of the months the evaluation reads has their key. Two orphans are.
    const farBack = prediction('churn', 'v1', BASE - 365 * DAY, {
      request_id: 'r-far',
      item_id: 'i-far',
      entity_ids: { user_id: 'u-far-back' },
    });
    const farAhead = prediction('churn', 'v1', BASE + 365 * DAY, { entity_ids: { user_id: 'u-far-ahead' } });
    const inReach = [
      outcome('far-request', BASE + 2 * DAY, { request_id: 'r-far', item_id: 'i-far' }),
      outcome('far-back-entity', BASE + 2 * DAY, { entity_ids: { user_id: 'u-far-back' } }),
      outcome('far-ahead-entity', BASE + 2 * DAY, { entity_ids: { user_id: 'u-far-ahead' } }),
      outcome('far-id', BASE + 2 * DAY, { prediction_id: farBack.prediction_id }),
      outcome('orphan-request', BASE + 3 * DAY, { request_id: 'r-none', item_id: 'i-none' }),
      outcome('orphan-entity', BASE + 3 * DAY, { entity_ids: { user_id: 'u-none' } }),
    ];
    const before = await evaluateCohort(testDb.db, COHORT, byWindow, AS_OF);
    await storeRows(testDb.db, 'predictions', [farBack, farAhead]);
    await storeRows(testDb.db, 'outcomes', inReach);
    const after = await evaluateCohort(testDb.db, COHORT, byWindow, AS_OF);
    expect(after.join.unmatched).toBe(before.join.unmatched + 2);
    // The history stored by the test before counts for nothing here, as that test shows.
    expect(after.join).toEqual(
      referenceJoin([...predictions, farBack, farAhead], [...outcomes, ...inReach], COHORT, refDefinition(byWindow), AS_OF).join,
    );
  });
});
