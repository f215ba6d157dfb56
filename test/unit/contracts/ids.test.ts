import { describe, expect, it } from 'vitest';
import { cohortIdFor, escapeIdField, type CohortSelector } from '../../../contracts/cohort';
import { isUuid, uuidSchema } from '../../../contracts/uuid';
import { validateRecord } from '../../../activities/ingest/validate-record';

/** RFC 4122 ids (version 4 and 1, variant 10xx) and 8-4-4-4-12 hex that is not RFC 4122. */
const RFC_4122 = ['7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a0001', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'];
const NOT_RFC_4122 = [
  '7f1c7b6e-7c39-0d6f-9a57-6f6e1a0a0001', // version nibble 0
  '7f1c7b6e-7c39-4d6f-1a57-6f6e1a0a0001', // variant bits 0xxx (NCS), not 10xx
  '00000000-0000-0000-0000-000000000000', // the nil UUID
  'ABCDEF01-2345-F789-CBCD-EF0123456789', // upper case, version nibble f, variant 110x
];
const NOT_UUIDS = [
  '',
  '7f1c7b6e7c394d6f9a576f6e1a0a0001',
  '{7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a0001}',
  '7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a000g',
  ' 7f1c7b6e-7c39-4d6f-9a57-6f6e1a0a0001',
];

const prediction = (prediction_id: string) => ({
  prediction_id,
  model_name: 'm',
  model_version: '1',
  ts_pred: '2026-01-01T00:00:00Z',
  score: 0.5,
});

describe('the one UUID rule (contracts/uuid.ts)', () => {
  it('accepts every 8-4-4-4-12 hex id, RFC 4122 or not, and lower-cases it as PostgreSQL prints it', () => {
    for (const id of [...RFC_4122, ...NOT_RFC_4122]) {
      expect(isUuid(id)).toBe(true);
      expect(uuidSchema.parse(id)).toBe(id.toLowerCase());
      // ingest and serve validate records with it
      const record = validateRecord('predictions', prediction(id), { receivedAt: '2026-01-02T00:00:00.000000Z' });
      expect(record.ok && record.row.prediction_id).toBe(id.toLowerCase());
    }
  });

  it('refuses anything else, saying what a UUID is', () => {
    for (const id of NOT_UUIDS) {
      expect(isUuid(id)).toBe(false);
      expect(uuidSchema.safeParse(id).error?.issues[0]?.message).toBe('must be a UUID (8-4-4-4-12 hexadecimal digits)');
      expect(validateRecord('predictions', prediction(id), { receivedAt: '2026-01-02T00:00:00.000000Z' })).toEqual({
        ok: false,
        field: 'prediction_id',
        error: 'prediction_id: must be a UUID (8-4-4-4-12 hexadecimal digits)',
      });
    }
  });
});

/** The id as it was made before fields were escaped: every stored id and workflow id has this form. */
function idBeforeEscaping(selector: CohortSelector, definition: { name: string; version: number }): string {
  return [
    'cohort',
    selector.model_name,
    selector.model_version,
    selector.environment ?? '*',
    new Date(selector.start).toISOString(),
    new Date(selector.end).toISOString(),
    `${definition.name}@${definition.version}`,
  ].join('/');
}

const selector = (fields: Partial<CohortSelector>): CohortSelector => ({
  model_name: 'fraud',
  model_version: '1.0.0',
  environment: 'production',
  start: '2026-11-01T00:00:00Z',
  end: '2026-11-02T00:00:00+00:00',
  ...fields,
});
const definition = { name: 'chargeback-30d', version: 3 };

describe('cohort ids', () => {
  it('are byte for byte what they were for fields without %, /, * or control characters', () => {
    expect(cohortIdFor(selector({}), definition)).toBe(
      'cohort/fraud/1.0.0/production/2026-11-01T00:00:00.000Z/2026-11-02T00:00:00.000Z/chargeback-30d@3',
    );
    expect(cohortIdFor(selector({ environment: null }), definition)).toBe(
      'cohort/fraud/1.0.0/*/2026-11-01T00:00:00.000Z/2026-11-02T00:00:00.000Z/chargeback-30d@3',
    );
    const ordinary = ['fraud model', 'v1.2-rc+build', 'eu-west@prod', 'modèle', '模型', 'a:b;c?d#e&f=g', 'x\u202ey', 'it\'s "quoted"'];
    for (const name of ordinary) {
      for (const fields of [{ model_name: name }, { model_version: name }, { environment: name }]) {
        expect(cohortIdFor(selector(fields), { name, version: 1 })).toBe(idBeforeEscaping(selector(fields), { name, version: 1 }));
      }
    }
  });

  it('keep an environment named * apart from the all-environments cohort', () => {
    const all = cohortIdFor(selector({ environment: null }), definition);
    const star = cohortIdFor(selector({ environment: '*' }), definition);
    expect(star).not.toBe(all);
    expect(star).toBe('cohort/fraud/1.0.0/%2A/2026-11-01T00:00:00.000Z/2026-11-02T00:00:00.000Z/chargeback-30d@3');
  });

  it('cannot be shared by two cohorts whose fields differ only in where a / falls', () => {
    const a = cohortIdFor(selector({ model_name: 'fraud/1.0.0', model_version: 'x' }), definition);
    const b = cohortIdFor(selector({ model_name: 'fraud', model_version: '1.0.0/x' }), definition);
    expect(idBeforeEscaping(selector({ model_name: 'fraud/1.0.0', model_version: 'x' }), definition)).toBe(
      idBeforeEscaping(selector({ model_name: 'fraud', model_version: '1.0.0/x' }), definition),
    );
    expect(a).not.toBe(b);
    expect(a.split('/')).toHaveLength(7);
    expect(b.split('/')).toHaveLength(7);
  });

  it('escape %, controls and C1 controls so an escaped field cannot pass for another', () => {
    expect(escapeIdField('100%')).toBe('100%25');
    expect(escapeIdField('%2F')).toBe('%252F');
    expect(escapeIdField('a/b')).not.toBe(escapeIdField('a%2Fb'));
    expect(escapeIdField('a\nb\u0000c\u007fd\u0085')).toBe('a%0Ab%00c%7Fd%C2%85');
    expect(decodeURIComponent(escapeIdField('m/%*\t\u009f'))).toBe('m/%*\t\u009f');
  });
});
