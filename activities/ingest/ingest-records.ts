import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import readline from 'node:readline';
import type { Knex } from 'knex';
import { z } from 'zod';
import { CURRENT_SCHEMA_VERSION, RECORD_SCHEMAS, type RecordKind } from './record-schemas';

export interface RejectedLine {
  line: number;
  field: string | null;
  error: string;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: RejectedLine[];
  conflicted: Array<{ line: number; id: string }>;
  rejects_file: string | null;
}

const KEY_COLUMNS: Record<RecordKind, string[]> = {
  predictions: ['prediction_id'],
  outcomes: ['outcome_id'],
  actions: ['prediction_id', 'action', 'ts_action'],
};

const JSON_COLUMNS = new Set(['entity_ids', 'segment', 'features', 'extra']);
const BATCH_SIZE = 1000;

interface ValidRecord {
  line: number;
  row: Record<string, unknown>;
}

/** Validates one parsed line against its schema version; unknown fields go to `extra`. */
export function validateRecord(kind: RecordKind, raw: unknown): { ok: true; row: Record<string, unknown> } | { ok: false; field: string | null; error: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, field: null, error: 'a record must be a JSON object' };
  const record = raw as Record<string, unknown>;
  const version = record.schema_version ?? CURRENT_SCHEMA_VERSION;
  const schemas = RECORD_SCHEMAS[kind] as Record<number, z.ZodObject | z.ZodType>;
  const schema = typeof version === 'number' ? schemas[version] : undefined;
  if (!schema) return { ok: false, field: 'schema_version', error: `unknown schema_version ${JSON.stringify(version)}; known: ${Object.keys(schemas).join(', ')}` };
  const parsed = schema.safeParse(record);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join('.') : null;
    return { ok: false, field, error: `${field ?? 'record'}: ${issue.message}` };
  }
  const row: Record<string, unknown> = { ...(parsed.data as Record<string, unknown>), schema_version: version };
  const known = new Set(Object.keys(row));
  const extra = Object.fromEntries(Object.entries(record).filter(([key]) => !known.has(key)));
  row.extra = Object.keys(extra).length > 0 ? extra : null;
  return { ok: true, row };
}

function contentHash(row: Record<string, unknown>): string {
  const { ts_received: _received, ...content } = row;
  return createHash('sha256').update(JSON.stringify(content, Object.keys(content).sort())).digest('hex');
}

function toDatabaseRow(kind: RecordKind, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { content_hash: contentHash(row) };
  for (const [key, value] of Object.entries(row)) {
    out[key] = JSON_COLUMNS.has(key) && value !== null && value !== undefined ? JSON.stringify(value) : value ?? null;
  }
  if (kind === 'outcomes' && !out.ts_received) out.ts_received = new Date().toISOString();
  return out;
}

async function storeBatch(db: Knex, kind: RecordKind, batch: ValidRecord[], result: IngestResult): Promise<void> {
  const keys = KEY_COLUMNS[kind];
  const keyOf = (row: Record<string, unknown>) => keys.map((key) => String(row[key])).join('|');
  // The first occurrence of an id within the batch is the candidate; later ones are compared to it.
  const firstById = new Map<string, ValidRecord & { dbRow: Record<string, unknown> }>();
  const repeats: Array<ValidRecord & { dbRow: Record<string, unknown> }> = [];
  for (const record of batch) {
    const dbRow = toDatabaseRow(kind, record.row);
    const key = keyOf(dbRow);
    if (firstById.has(key)) repeats.push({ ...record, dbRow });
    else firstById.set(key, { ...record, dbRow });
  }
  const candidates = [...firstById.values()];
  const inserted = await db(kind)
    .insert(candidates.map((candidate) => candidate.dbRow))
    .onConflict(keys)
    .ignore()
    .returning(keys);
  const insertedKeys = new Set(inserted.map((row: Record<string, unknown>) => keys.map((key) => String(key === 'ts_action' ? new Date(row[key] as string).toISOString() : row[key])).join('|')));
  result.accepted += insertedKeys.size;
  const notInserted = candidates.filter((candidate) => !insertedKeys.has(keyOf(candidate.dbRow)));
  const toCompare = [...notInserted, ...repeats];
  if (toCompare.length === 0) return;
  const stored = await db(kind)
    .whereIn(keys, toCompare.map((record) => keys.map((key) => record.dbRow[key]) as never))
    .select([...keys, 'content_hash']);
  const storedHash = new Map(stored.map((row: Record<string, unknown>) => [keys.map((key) => String(key === 'ts_action' ? new Date(row[key] as string).toISOString() : row[key])).join('|'), row.content_hash]));
  for (const record of toCompare) {
    if (storedHash.get(keyOf(record.dbRow)) === record.dbRow.content_hash) result.duplicates += 1;
    else {
      result.conflicts += 1;
      result.conflicted.push({ line: record.line, id: keyOf(record.dbRow) });
    }
  }
}

export interface IngestOptions {
  /** Where rejected lines go; default `FILE.rejects.ndjson` next to the input. */
  rejectsPath?: string;
}

/** Streams an NDJSON file into `kind`, storing good lines and reporting bad ones by line number. */
export async function ingestNdjsonFile(db: Knex, kind: RecordKind, file: string, options: IngestOptions = {}): Promise<IngestResult> {
  const result: IngestResult = { accepted: 0, duplicates: 0, conflicts: 0, rejected: [], conflicted: [], rejects_file: null };
  const rejectedText: string[] = [];
  const lines = readline.createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let batch: ValidRecord[] = [];
  let lineNumber = 0;
  for await (const rawLine of lines) {
    lineNumber += 1;
    const line = lineNumber === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine;
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      result.rejected.push({ line: lineNumber, field: null, error: `malformed JSON: ${(error as Error).message}` });
      rejectedText.push(line);
      continue;
    }
    const checked = validateRecord(kind, parsed);
    if (!checked.ok) {
      result.rejected.push({ line: lineNumber, field: checked.field, error: checked.error });
      rejectedText.push(line);
      continue;
    }
    batch.push({ line: lineNumber, row: checked.row });
    if (batch.length >= BATCH_SIZE) {
      await storeBatch(db, kind, batch, result);
      batch = [];
    }
  }
  if (batch.length > 0) await storeBatch(db, kind, batch, result);
  if (result.rejected.length > 0) {
    const rejectsPath = options.rejectsPath ?? `${file}.rejects.ndjson`;
    const body = result.rejected.map((rejected, index) => JSON.stringify({ ...rejected, input: rejectedText[index] })).join('\n');
    await writeFile(rejectsPath, `${body}\n`);
    result.rejects_file = rejectsPath;
  }
  return result;
}
