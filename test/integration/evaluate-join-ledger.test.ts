import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';

const testDb = useTestDatabase();
const DAY = 86_400_000;
const T = Date.parse('2026-04-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const known = randomUUID();
const outcome = (outcome_id: string, fields: Record<string, unknown>, eventMs = T + DAY) => ({
  outcome_id,
  prediction_id: null,
  request_id: null,
  item_id: null,
  entity_ids: {},
  outcome_type: 'chargeback',
  value: 1,
  ts_event: iso(eventMs),
  ts_received: iso(eventMs + DAY),
  ...fields,
});

beforeAll(async () => {
  await storeRows(testDb.db, 'predictions', [
    {
      prediction_id: known,
      model_name: 'fraud',
      model_version: 'v1',
      ts_pred: iso(T),
      score: 0.3,
      request_id: 'r1',
      item_id: 'i1',
      entity_ids: { user_id: 'u1' },
      segment: {},
    },
  ]);
  await storeRows(testDb.db, 'outcomes', [
    outcome('by-id', { prediction_id: known }),
    outcome('by-request', { request_id: 'r1', item_id: 'i1' }),
    outcome('by-entity', { entity_ids: { user_id: 'u1' } }),
    outcome('orphan-id', { prediction_id: randomUUID() }),
    outcome('orphan-request', { request_id: 'r1', item_id: 'other' }),
    outcome('orphan-entity', { entity_ids: { user_id: 'nobody' } }),
    outcome('no-entity-key', { entity_ids: { card_id: 'c1' } }),
    outcome('orphan-out-of-reach', { prediction_id: randomUUID() }, T + 60 * DAY),
  ]);
  await putLabelDefinition(testDb.db, {
    name: 'fraud-ledger',
    version: 1,
    model_name: 'fraud',
    task: 'binary',
    window: 'P10D',
    positive_outcome_types: ['chargeback'],
    absent_means: 'negative',
    entity_key: 'user_id',
  });
});

describe('the unmatched-outcome ledger', () => {
  it('lists every outcome whose join key names no prediction, with its path and reason', async () => {
    const rows = (await testDb.db.raw("select outcome_id, join_path, reason from unmatched_outcomes('user_id') order by outcome_id")).rows;
    expect(rows).toEqual([
      { outcome_id: 'no-entity-key', join_path: 'by_entity_window', reason: 'the outcome carries no user_id' },
      { outcome_id: 'orphan-entity', join_path: 'by_entity_window', reason: 'no prediction has this user_id' },
      { outcome_id: 'orphan-id', join_path: 'by_prediction_id', reason: 'no prediction has this prediction_id' },
      { outcome_id: 'orphan-out-of-reach', join_path: 'by_prediction_id', reason: 'no prediction has this prediction_id' },
      { outcome_id: 'orphan-request', join_path: 'by_request_item', reason: 'no prediction has this request_id + item_id' },
    ]);
  });

  it('treats entity-only outcomes as unmatched when no entity key is given', async () => {
    const rows = (
      await testDb.db.raw("select outcome_id, reason from unmatched_outcomes() where join_path = 'by_entity_window' order by outcome_id")
    ).rows;
    expect(rows.map((row: { outcome_id: string }) => row.outcome_id)).toEqual(['by-entity', 'no-entity-key', 'orphan-entity']);
    expect(new Set(rows.map((row: { reason: string }) => row.reason))).toEqual(new Set(['no entity_key to join on']));
  });

  it("counts in the evaluation's join block only the unmatched outcomes within the cohort's reach and known by as-of", async () => {
    const definition = (
      await putLabelDefinition(testDb.db, {
        name: 'fraud-ledger',
        version: 1,
        model_name: 'fraud',
        task: 'binary',
        window: 'P10D',
        positive_outcome_types: ['chargeback'],
        absent_means: 'negative',
        entity_key: 'user_id',
      })
    ).definition;
    const cohort = { model_name: 'fraud', model_version: 'v1', environment: null, start: iso(T), end: iso(T + DAY) };
    const late = await evaluateCohort(testDb.db, cohort, definition, iso(T + 90 * DAY));
    expect(late.join).toMatchObject({ by_prediction_id: 1, by_request_item: 1, by_entity_window: 1, unmatched: 4 });
    const early = await evaluateCohort(testDb.db, cohort, definition, iso(T + DAY));
    expect(early.join).toMatchObject({ by_prediction_id: 0, unmatched: 0 });
  });
});
