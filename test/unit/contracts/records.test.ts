import { describe, expect, it } from 'vitest';
import { parseOffsetTimestamp, timestampSchema } from '../../../contracts/records';
import { validateRecord } from '../../../activities/ingest/validate-record';

const RECEIVED = '2026-11-20T00:00:00.000000Z';
const prediction = {
  prediction_id: '7F1C7B6E-7C39-4D6F-9A57-6F6E1A0A0001',
  model_name: 'fraud',
  model_version: '1.0',
  ts_pred: '2026-11-01T10:00:00Z',
  score: 0.9,
};

function validate(kind: 'predictions' | 'outcomes' | 'actions', record: unknown) {
  return validateRecord(kind, record, { receivedAt: RECEIVED });
}

describe('record timestamps', () => {
  it('converts an offset timestamp to UTC and keeps microseconds', () => {
    expect(parseOffsetTimestamp('2026-11-01T10:00:00.123456+02:00')).toEqual({ ok: true, utc: '2026-11-01T08:00:00.123456Z' });
    expect(parseOffsetTimestamp('2026-11-01T10:00Z')).toEqual({ ok: true, utc: '2026-11-01T10:00:00.000000Z' });
    expect(parseOffsetTimestamp('2026-01-01T00:30:00-0100')).toEqual({ ok: true, utc: '2026-01-01T01:30:00.000000Z' });
  });

  it('accepts the RFC 3339 space between date and time wherever a timestamp is read, and still refuses a naive one', () => {
    expect(parseOffsetTimestamp('2019-11-24 00:03:13+00:00')).toEqual({ ok: true, utc: '2019-11-24T00:03:13.000000Z' });
    expect(parseOffsetTimestamp('2019-11-24 02:03:13.5+02:00')).toEqual({ ok: true, utc: '2019-11-24T00:03:13.500000Z' });
    expect(timestampSchema.parse('2019-11-24 00:03:13+00:00')).toBe('2019-11-24T00:03:13.000Z');
    const record = validate('predictions', { ...prediction, ts_pred: '2026-11-01 10:00:00+01:00' });
    expect(record.ok && record.row).toMatchObject({ ts_pred: '2026-11-01T09:00:00.000000Z' });
    const naive = parseOffsetTimestamp('2019-11-24 00:03:13');
    expect(!naive.ok && naive.error).toMatch(/naive timestamp/);
    expect(timestampSchema.safeParse('2019-11-24 00:03:13').success).toBe(false);
  });

  it('takes a prediction without a score when it logs its action (or decision) and position, and names score otherwise', () => {
    const { score: _score, ...unscored } = prediction;
    const ranked = validate('predictions', { ...unscored, action: 'item-7', position: 2 });
    expect(ranked.ok && ranked.row).toMatchObject({ action: 'item-7', position: 2 });
    expect(validate('predictions', { ...unscored, decision: 'show', position: 0 }).ok).toBe(true);
    for (const record of [unscored, { ...unscored, action: 'item-7' }, { ...unscored, position: 1 }, { ...prediction, score: null }])
      expect(validate('predictions', record)).toEqual({
        ok: false,
        field: 'score',
        error: 'score: is required unless the prediction logs its action (or decision) and its position',
      });
  });

  it('rejects a naive timestamp as ambiguous', () => {
    const parsed = parseOffsetTimestamp('2026-11-01T10:00:00');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(/naive timestamp/);
  });

  it('rejects dates that do not exist instead of rolling them over', () => {
    expect(parseOffsetTimestamp('2026-02-30T00:00:00Z').ok).toBe(false);
    expect(parseOffsetTimestamp('2026-04-31T00:00:00Z').ok).toBe(false);
    expect(parseOffsetTimestamp('2026-01-01T24:00:00Z').ok).toBe(false);
    expect(parseOffsetTimestamp('2028-02-29T00:00:00Z').ok).toBe(true);
  });
});

describe('validateRecord', () => {
  it('accepts a minimal prediction, lower-cases its id and fills the current schema version', () => {
    const checked = validate('predictions', prediction);
    expect(checked.ok && checked.row).toMatchObject({
      prediction_id: '7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a0001',
      schema_version: 1,
      ts_pred: '2026-11-01T10:00:00.000000Z',
      extra: null,
    });
  });

  it('rejects a string score with the field named', () => {
    expect(validate('predictions', { ...prediction, score: '0.9' })).toEqual({
      ok: false,
      field: 'score',
      error: 'score: must be a number',
    });
  });

  it('says a missing required field is required', () => {
    const { prediction_id: _id, ...withoutId } = prediction;
    expect(validate('predictions', withoutId)).toEqual({ ok: false, field: 'prediction_id', error: 'prediction_id: is required' });
  });

  it('rejects a naive ts_pred with the field named', () => {
    const checked = validate('predictions', { ...prediction, ts_pred: '2026-11-01 10:00:00' });
    expect(checked).toMatchObject({ ok: false, field: 'ts_pred' });
  });

  it('rejects an unknown schema_version and names the known ones', () => {
    expect(validate('predictions', { ...prediction, schema_version: 2 })).toEqual({
      ok: false,
      field: 'schema_version',
      error: 'schema_version: unknown version 2; this Hindsight knows 1',
    });
  });

  it('keeps unknown fields in extra and names them', () => {
    const checked = validate('predictions', { ...prediction, colour: 'red', nested: { a: 1 } });
    expect(checked).toMatchObject({ ok: true, unknownFields: ['colour', 'nested'], row: { extra: { colour: 'red', nested: { a: 1 } } } });
  });

  it('rejects a record that is not an object', () => {
    expect(validate('predictions', [1, 2])).toMatchObject({ ok: false, error: 'a record must be a JSON object' });
  });

  it('defaults an outcome ts_received to the ingestion time', () => {
    const checked = validate('outcomes', {
      outcome_id: 'o1',
      prediction_id: prediction.prediction_id,
      outcome_type: 'chargeback',
      ts_event: '2026-11-02T00:00:00Z',
    });
    expect(checked.ok && checked.row.ts_received).toBe(RECEIVED);
  });

  it('rejects an outcome received before it happened, given or defaulted', () => {
    const base = { outcome_id: 'o1', prediction_id: prediction.prediction_id, outcome_type: 'chargeback' };
    expect(validate('outcomes', { ...base, ts_event: '2026-11-02T00:00:00Z', ts_received: '2026-11-01T00:00:00Z' })).toMatchObject({
      ok: false,
      field: 'ts_received',
    });
    expect(validate('outcomes', { ...base, ts_event: '2026-12-01T00:00:00Z' })).toMatchObject({ ok: false, field: 'ts_received' });
  });

  it('rejects an outcome with nothing to join on', () => {
    expect(validate('outcomes', { outcome_id: 'o1', outcome_type: 'click', ts_event: '2026-11-02T00:00:00Z' })).toMatchObject({
      ok: false,
      field: 'prediction_id',
    });
  });

  it('validates actions against their own schema', () => {
    expect(
      validate('actions', { prediction_id: prediction.prediction_id, action: 'block', ts_action: '2026-11-01T10:00:01Z', propensity: 0.7 }),
    ).toMatchObject({ ok: true });
    expect(
      validate('actions', { prediction_id: prediction.prediction_id, action: 'block', ts_action: '2026-11-01T10:00:01Z', propensity: 0 }),
    ).toMatchObject({ ok: false, field: 'propensity' });
  });
});

/** `[[[…0…]]]` `depth` levels deep, built without recursion. */
function nestedArrays(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

describe('validateRecord limits (nesting, sizes, text PostgreSQL can store as sent)', () => {
  it('accepts features nested 32 levels deep and rejects 33 with the field named', () => {
    const at = (depth: number) => validate('predictions', { ...prediction, features: { a: nestedArrays(depth - 1) } });
    expect(at(32)).toMatchObject({ ok: true });
    const deeper = at(33);
    expect(deeper).toMatchObject({ ok: false });
    expect(deeper).toEqual({ ok: false, field: 'features', error: 'features: nested deeper than 32 levels' });
  });

  it('rejects 100,000 nested arrays in any field, known or unknown, without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    for (const field of ['features', 'segment', 'entity_ids', 'colour']) {
      expect(validate('predictions', { ...prediction, [field]: deep })).toEqual({
        ok: false,
        field,
        error: `${field}: nested deeper than 32 levels`,
      });
    }
  });

  it('rejects an object with more than 1000 keys and an array with more than 10,000 items', () => {
    const wide = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i]));
    expect(validate('predictions', { ...prediction, features: wide })).toEqual({
      ok: false,
      field: 'features',
      error: 'features: has 1001 keys; at most 1000 per object',
    });
    expect(validate('predictions', { ...prediction, features: { list: new Array(10_001).fill(0) } })).toMatchObject({
      ok: false,
      field: 'features.list',
    });
  });

  it('rejects a NUL character in a string or a key, naming the field', () => {
    expect(validate('predictions', { ...prediction, model_name: 'a\u0000b' })).toMatchObject({
      ok: false,
      field: 'model_name',
      error: expect.stringMatching(/NUL character/),
    });
    expect(validate('predictions', { ...prediction, segment: { device: 'x\u0000' } })).toMatchObject({
      ok: false,
      field: 'segment.device',
    });
    expect(validate('predictions', { ...prediction, features: { 'a\u0000': 1 } })).toMatchObject({
      ok: false,
      field: 'features',
      error: expect.stringMatching(/key "a\\u0000" contains a NUL/),
    });
  });

  it('accepts a literal backslash-u0000 (six characters), which is storable text', () => {
    expect(validate('predictions', { ...prediction, model_name: 'a\\u0000b' })).toMatchObject({ ok: true });
  });

  it('rejects an unpaired surrogate instead of storing U+FFFD in its place', () => {
    expect(validate('predictions', { ...prediction, region: JSON.parse('"eu\\ud800"') })).toMatchObject({
      ok: false,
      field: 'region',
      error: expect.stringMatching(/unpaired UTF-16 surrogate/),
    });
    expect(validate('predictions', { ...prediction, features: { note: JSON.parse('"\\udc00x"') } })).toMatchObject({
      ok: false,
      field: 'features.note',
    });
    expect(validate('predictions', { ...prediction, region: 'emoji \u{1f600}' })).toMatchObject({ ok: true });
  });

  it('rejects a number JSON cannot hold (1e400) instead of storing null', () => {
    expect(validate('predictions', { ...prediction, features: JSON.parse('{"amount": 1e400}') })).toMatchObject({
      ok: false,
      field: 'features.amount',
      error: expect.stringMatching(/out of range/),
    });
  });

  it('rejects integers beyond int4 in position and schema_version with the field named', () => {
    expect(validate('predictions', { ...prediction, position: 2 ** 31 })).toMatchObject({ ok: false, field: 'position' });
    expect(validate('predictions', { ...prediction, schema_version: 2 ** 31 })).toMatchObject({ ok: false, field: 'schema_version' });
    expect(
      validate('outcomes', {
        outcome_id: 'o1',
        prediction_id: prediction.prediction_id,
        outcome_type: 'click',
        ts_event: '2026-11-02T00:00:00Z',
        ts_received: '2026-11-03T00:00:00Z',
        position: 1e20,
      }),
    ).toMatchObject({ ok: false, field: 'position' });
  });
});
