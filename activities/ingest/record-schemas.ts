import { z } from 'zod';

/**
 * Versioned record schemas for everything Hindsight ingests. `schema_version` absent means
 * {@link CURRENT_SCHEMA_VERSION}; an unknown version is rejected so a producer that moved
 * ahead of us is told instead of silently misread.
 */
export const CURRENT_SCHEMA_VERSION = 1;

/** An ISO-8601 timestamp that carries its offset (`Z` or `±hh:mm`); naive ones are ambiguous. */
export const timestampSchema = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/,
    'must be an ISO-8601 timestamp with an offset (Z or ±hh:mm)',
  )
  .refine((value) => !Number.isNaN(Date.parse(value)), 'is not a valid date')
  .transform((value) => new Date(value).toISOString());

const text = z.string().min(1).max(1000);
const optionalText = text.nullish();
const jsonObject = z.record(z.string(), z.unknown());
const entityIds = z.record(z.string(), z.union([z.string(), z.number()]).transform(String));
const schemaVersion = z.number().int().optional();

export const predictionSchemaV1 = z.object({
  schema_version: schemaVersion,
  prediction_id: z.uuid({ message: 'must be a UUID' }).transform((id) => id.toLowerCase()),
  model_name: text,
  model_version: text,
  feature_view_version: optionalText,
  input_schema_hash: optionalText,
  entity_ids: entityIds.default({}),
  ts_pred: timestampSchema,
  score: z.number({ message: 'must be a number' }).finite(),
  threshold: z.number().finite().nullish(),
  decision: z.union([z.string(), z.number(), z.boolean()]).transform(String).nullish(),
  action: optionalText,
  policy: optionalText,
  propensity: z.number().gt(0).max(1).nullish(),
  is_exploration: z.boolean().nullish(),
  request_id: optionalText,
  session_id: optionalText,
  position: z.number().int().min(0).nullish(),
  item_id: optionalText,
  environment: optionalText,
  region: optionalText,
  segment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
  features: jsonObject.nullish(),
});

export const outcomeSchemaV1 = z
  .object({
    schema_version: schemaVersion,
    outcome_id: text,
    prediction_id: z.uuid({ message: 'must be a UUID' }).transform((id) => id.toLowerCase()).nullish(),
    entity_ids: entityIds.default({}),
    request_id: optionalText,
    item_id: optionalText,
    position: z.number().int().min(0).nullish(),
    outcome_type: text,
    value: z.number().finite().nullish(),
    ts_event: timestampSchema,
    ts_received: timestampSchema.optional(),
    source: optionalText,
  })
  .superRefine((outcome, ctx) => {
    const joinable = outcome.prediction_id || (outcome.request_id && outcome.item_id) || Object.keys(outcome.entity_ids).length > 0;
    if (!joinable) {
      ctx.addIssue({ code: 'custom', path: ['prediction_id'], message: 'an outcome needs something to join on: prediction_id, request_id + item_id, or entity_ids' });
    }
    if (outcome.ts_received && outcome.ts_received < outcome.ts_event) {
      ctx.addIssue({ code: 'custom', path: ['ts_received'], message: 'is before ts_event: an outcome cannot be received before it happened' });
    }
  });

export const actionSchemaV1 = z.object({
  schema_version: schemaVersion,
  prediction_id: z.uuid({ message: 'must be a UUID' }).transform((id) => id.toLowerCase()),
  action: text,
  ts_action: timestampSchema,
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
