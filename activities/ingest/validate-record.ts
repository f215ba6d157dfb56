import type { z } from 'zod';
import { checkRecordLimits } from './record-limits';
import { CURRENT_SCHEMA_VERSION, RECORD_SCHEMAS, type RecordKind } from '../../contracts/records';

export type ValidatedRecord =
  { ok: true; row: Record<string, unknown>; unknownFields: string[] } | { ok: false; field: string | null; error: string };

export interface ValidateOptions {
  /** `ts_received` of outcomes that do not carry one: when this ingest received them. */
  receivedAt: string;
}

/** Field names each schema version knows, so everything else can be kept in `extra`. */
const KNOWN_FIELDS = new Map<z.ZodType, Set<string>>();

function knownFields(schema: z.ZodType): Set<string> {
  let known = KNOWN_FIELDS.get(schema);
  if (!known) {
    known = new Set(Object.keys((schema as unknown as z.ZodObject).shape));
    KNOWN_FIELDS.set(schema, known);
  }
  return known;
}

function describeIssue(issue: z.core.$ZodIssue, record: Record<string, unknown>): { field: string | null; error: string } {
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  const top = issue.path[0];
  const missing = issue.code === 'invalid_type' && typeof top === 'string' && issue.path.length === 1 && record[top] === undefined;
  const message = missing ? 'is required' : issue.message;
  return { field, error: field ? `${field}: ${message}` : message };
}

/**
 * Checks one parsed record against `RECORD_LIMITS` (record-limits.ts), then against the schema
 * version it names (absent means {@link CURRENT_SCHEMA_VERSION}) and the time rules, and
 * returns the row to store.
 * Unknown fields are kept in `extra` and named in `unknownFields` so the caller reports
 * them: a producer's typo must be visible, and its data must not be lost.
 */
export function validateRecord(kind: RecordKind, raw: unknown, options: ValidateOptions): ValidatedRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, field: null, error: 'a record must be a JSON object' };
  // Before zod and the content hash: both walk the value, and must only see bounded ones.
  const problem = checkRecordLimits(raw);
  if (problem) return { ok: false, ...problem };
  const record = raw as Record<string, unknown>;
  const version = record.schema_version ?? CURRENT_SCHEMA_VERSION;
  const schemas = RECORD_SCHEMAS[kind] as Record<number, z.ZodType>;
  const schema = typeof version === 'number' ? schemas[version] : undefined;
  if (!schema) {
    return {
      ok: false,
      field: 'schema_version',
      error: `schema_version: unknown version ${JSON.stringify(version)}; this Hindsight knows ${Object.keys(schemas).join(', ')}`,
    };
  }
  const parsed = schema.safeParse(record);
  if (!parsed.success) return { ok: false, ...describeIssue(parsed.error.issues[0]!, record) };
  // zod's output is a fresh object, so it is completed in place rather than copied.
  const row = parsed.data as Record<string, unknown>;
  row.schema_version = version;
  if (kind === 'outcomes') {
    row.ts_received ??= options.receivedAt;
    // Also catches an event in the future of a defaulted ts_received.
    if ((row.ts_received as string) < (row.ts_event as string)) {
      return {
        ok: false,
        field: 'ts_received',
        error: `ts_received: ${row.ts_received} is before ts_event ${row.ts_event}: an outcome cannot be received before it happened`,
      };
    }
  }
  const known = knownFields(schema);
  let extra: Record<string, unknown> | null = null;
  const unknownFields: string[] = [];
  for (const key of Object.keys(record)) {
    if (known.has(key)) continue;
    (extra ??= {})[key] = record[key];
    unknownFields.push(key);
  }
  row.extra = extra;
  return { ok: true, row, unknownFields };
}
