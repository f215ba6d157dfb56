import { describe, expect, it } from 'vitest';
import { parseOffsetTimestamp } from '../../activities/ingest/record-schemas';
import { validateRecord } from '../../activities/ingest/validate-record';

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
    expect(checked.ok && checked.row).toMatchObject({ prediction_id: '7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a0001', schema_version: 1, ts_pred: '2026-11-01T10:00:00.000000Z', extra: null });
  });

  it('rejects a string score with the field named', () => {
    expect(validate('predictions', { ...prediction, score: '0.9' })).toEqual({ ok: false, field: 'score', error: 'score: must be a number' });
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
    expect(validate('predictions', { ...prediction, schema_version: 2 })).toEqual({ ok: false, field: 'schema_version', error: 'schema_version: unknown version 2; this Hindsight knows 1' });
  });

  it('keeps unknown fields in extra and names them', () => {
    const checked = validate('predictions', { ...prediction, colour: 'red', nested: { a: 1 } });
    expect(checked).toMatchObject({ ok: true, unknownFields: ['colour', 'nested'], row: { extra: { colour: 'red', nested: { a: 1 } } } });
  });

  it('rejects a record that is not an object', () => {
    expect(validate('predictions', [1, 2])).toMatchObject({ ok: false, error: 'a record must be a JSON object' });
  });

  it('defaults an outcome ts_received to the ingestion time', () => {
    const checked = validate('outcomes', { outcome_id: 'o1', prediction_id: prediction.prediction_id, outcome_type: 'chargeback', ts_event: '2026-11-02T00:00:00Z' });
    expect(checked.ok && checked.row.ts_received).toBe(RECEIVED);
  });

  it('rejects an outcome received before it happened, given or defaulted', () => {
    const base = { outcome_id: 'o1', prediction_id: prediction.prediction_id, outcome_type: 'chargeback' };
    expect(validate('outcomes', { ...base, ts_event: '2026-11-02T00:00:00Z', ts_received: '2026-11-01T00:00:00Z' })).toMatchObject({ ok: false, field: 'ts_received' });
    expect(validate('outcomes', { ...base, ts_event: '2026-12-01T00:00:00Z' })).toMatchObject({ ok: false, field: 'ts_received' });
  });

  it('rejects an outcome with nothing to join on', () => {
    expect(validate('outcomes', { outcome_id: 'o1', outcome_type: 'click', ts_event: '2026-11-02T00:00:00Z' })).toMatchObject({ ok: false, field: 'prediction_id' });
  });

  it('validates actions against their own schema', () => {
    expect(validate('actions', { prediction_id: prediction.prediction_id, action: 'block', ts_action: '2026-11-01T10:00:01Z', propensity: 0.7 })).toMatchObject({ ok: true });
    expect(validate('actions', { prediction_id: prediction.prediction_id, action: 'block', ts_action: '2026-11-01T10:00:01Z', propensity: 0 })).toMatchObject({ ok: false, field: 'propensity' });
  });
});
