import { z } from 'zod';
import { uuidSchema } from './uuid';

/**
 * Versioned record schemas for everything Hindsight ingests. `schema_version` absent means
 * {@link CURRENT_SCHEMA_VERSION}; an unknown version is rejected so a producer that moved
 * ahead of us is told instead of silently misread.
 */
export const CURRENT_SCHEMA_VERSION = 1;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** RFC 3339 lets a space stand for the `T` between date and time (`2019-11-24 00:03:13+00:00`). */
const OFFSET_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Reads an ISO-8601 timestamp with an offset and returns its UTC instant as
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, what Postgres keeps; fixed width so strings
 * compare like instants), or an error. `Date.parse` alone would roll 2026-02-30 over to
 * March, which Postgres then refuses, so the calendar is checked here.
 */
export function parseOffsetTimestamp(value: string): { ok: true; utc: string } | { ok: false; error: string } {
  const match = OFFSET_TIMESTAMP.exec(value);
  if (!match) {
    const naive = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value);
    return {
      ok: false,
      error: naive
        ? 'has no offset: a naive timestamp is ambiguous, add Z or ±hh:mm'
        : 'must be an ISO-8601 timestamp with an offset (Z or ±hh:mm)',
    };
  }
  const [, y, mo, d, h, mi, s = '0', fraction = '', zulu, sign, oh = '0', om = '0'] = match;
  const year = Number(y),
    month = Number(mo),
    day = Number(d),
    hour = Number(h),
    minute = Number(mi),
    second = Number(s);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, error: 'is not a valid calendar date and time' };
  }
  if (!zulu && (Number(oh) > 15 || Number(om) > 59)) return { ok: false, error: 'has an offset outside ±15:59' };
  const micros = fraction.padEnd(6, '0').slice(0, 6);
  // Already UTC: the text is the answer (the common case, and much cheaper than a Date).
  if (zulu) return { ok: true, utc: `${y}-${mo}-${d}T${h}:${mi}:${s.padStart(2, '0')}.${micros}Z` };
  const offsetMinutes = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const base = new Date(0);
  base.setUTCFullYear(year, month - 1, day);
  base.setUTCHours(hour, minute - offsetMinutes, second, 0);
  if (base.getUTCFullYear() < 1 || base.getUTCFullYear() > 9999) return { ok: false, error: 'is outside years 0001–9999' };
  return { ok: true, utc: `${base.toISOString().slice(0, 19)}.${micros}Z` };
}

/** An ISO-8601 / RFC 3339 timestamp that carries its offset (`Z` or `±hh:mm`); naive ones are ambiguous. */
export const timestampSchema = z
  .string()
  .refine((value) => parseOffsetTimestamp(value).ok, {
    error: (issue) => {
      const parsed = parseOffsetTimestamp(String(issue.input));
      return parsed.ok ? 'is not a valid timestamp' : parsed.error;
    },
  })
  // The instant parseOffsetTimestamp read, to the millisecond (`Date` does not read every RFC 3339 spelling).
  .transform((value) => {
    const parsed = parseOffsetTimestamp(value);
    return parsed.ok ? `${parsed.utc.slice(0, 23)}Z` : value;
  });

/** Record timestamps keep microseconds (see {@link parseOffsetTimestamp}). */
const recordTimestamp = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be an ISO-8601 timestamp string') })
  .transform((value, ctx) => {
    const parsed = parseOffsetTimestamp(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.utc;
  });

const text = z.string().min(1).max(1000);
const optionalText = text.nullish();
const jsonObject = z.record(z.string(), z.unknown());
const entityIds = z.record(z.string(), z.union([z.string(), z.number()]).transform(String));
const schemaVersion = z.number().int().min(1).max(2_147_483_647).optional();

export const predictionSchemaV1 = z
  .object({
    schema_version: schemaVersion,
    prediction_id: uuidSchema,
    model_name: text,
    model_version: text,
    feature_view_version: optionalText,
    input_schema_hash: optionalText,
    entity_ids: entityIds.default({}),
    ts_pred: recordTimestamp,
    /** Optional when the prediction logs its action (or decision) and position: a ranker without a calibrated score. */
    score: z.number({ message: 'must be a number' }).finite().nullish(),
    threshold: z.number().finite().nullish(),
    decision: z.union([z.string(), z.number(), z.boolean()]).transform(String).nullish(),
    action: optionalText,
    policy: optionalText,
    propensity: z.number().gt(0).max(1).nullish(),
    is_exploration: z.boolean().nullish(),
    request_id: optionalText,
    session_id: optionalText,
    position: z.number().int().min(0).max(2_147_483_647).nullish(),
    item_id: optionalText,
    environment: optionalText,
    region: optionalText,
    segment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    features: jsonObject.nullish(),
  })
  .superRefine((prediction, ctx) => {
    if (prediction.score !== undefined && prediction.score !== null) return;
    if ((prediction.action ?? prediction.decision) == null || prediction.position == null)
      ctx.addIssue({
        code: 'custom',
        path: ['score'],
        message: 'is required unless the prediction logs its action (or decision) and its position',
      });
  });

export const outcomeSchemaV1 = z
  .object({
    schema_version: schemaVersion,
    outcome_id: text,
    prediction_id: uuidSchema.nullish(),
    entity_ids: entityIds.default({}),
    request_id: optionalText,
    item_id: optionalText,
    position: z.number().int().min(0).max(2_147_483_647).nullish(),
    outcome_type: text,
    value: z.number().finite().nullish(),
    ts_event: recordTimestamp,
    ts_received: recordTimestamp.optional(),
    source: optionalText,
  })
  .superRefine((outcome, ctx) => {
    const joinable = outcome.prediction_id || (outcome.request_id && outcome.item_id) || Object.keys(outcome.entity_ids).length > 0;
    if (!joinable) {
      ctx.addIssue({
        code: 'custom',
        path: ['prediction_id'],
        message: 'an outcome needs something to join on: prediction_id, request_id + item_id, or entity_ids',
      });
    }
    if (outcome.ts_received && outcome.ts_received < outcome.ts_event) {
      ctx.addIssue({
        code: 'custom',
        path: ['ts_received'],
        message: 'is before ts_event: an outcome cannot be received before it happened',
      });
    }
  });

export const actionSchemaV1 = z.object({
  schema_version: schemaVersion,
  prediction_id: uuidSchema,
  action: text,
  ts_action: recordTimestamp,
  policy: optionalText,
  propensity: z.number().gt(0).max(1).nullish(),
});

export const RECORD_KINDS = ['predictions', 'outcomes', 'actions'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** Every known schema version per kind; a new version is added here, never edited in place. */
export const RECORD_SCHEMAS = {
  predictions: { 1: predictionSchemaV1 },
  outcomes: { 1: outcomeSchemaV1 },
  actions: { 1: actionSchemaV1 },
} as const satisfies Record<RecordKind, Record<number, z.ZodType>>;

export type PredictionRecord = z.output<typeof predictionSchemaV1>;
export type OutcomeRecord = z.output<typeof outcomeSchemaV1>;
export type ActionRecord = z.output<typeof actionSchemaV1>;
