import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { MAX_LINE_CHARS, type SourceRecord } from './parse-ndjson';

/** Fields a CSV cell must turn into a number / boolean for the schema to accept it. */
const NUMERIC_FIELDS = new Set(['score', 'threshold', 'propensity', 'position', 'value', 'schema_version']);
const BOOLEAN_FIELDS = new Set(['is_exploration']);
/** Object fields; a cell under the plain column name may carry the whole object as JSON. */
const OBJECT_FIELDS = new Set(['entity_ids', 'segment', 'features']);
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEANS: Record<string, boolean> = { true: true, false: false, t: true, f: false, '1': true, '0': false };

/**
 * Types one cell. CSV has only strings, so numbers and booleans are recognised where the
 * schema wants them (and in `features`, which drift reads as numbers); a cell that does
 * not fit stays a string, so the schema reports e.g. "score: must be a number".
 */
function typeCell(path: readonly string[], cell: string): unknown {
  const [top] = path;
  if (path.length === 1 && NUMERIC_FIELDS.has(top!)) return NUMBER.test(cell) ? Number(cell) : cell;
  if (path.length === 1 && BOOLEAN_FIELDS.has(top!)) return BOOLEANS[cell.toLowerCase()] ?? cell;
  if (top === 'features' && path.length > 1) {
    if (NUMBER.test(cell)) return Number(cell);
    if (cell === 'true' || cell === 'false') return cell === 'true';
  }
  return cell;
}

/** Builds one record from a row: dotted headers (`segment.device`) become nested objects. */
function toObject(header: ReadonlyArray<readonly string[]>, cells: readonly string[]): { value: Record<string, unknown> } | { error: { field: string; error: string } } {
  const record: Record<string, unknown> = {};
  for (let index = 0; index < header.length; index += 1) {
    const cell = cells[index];
    // An empty cell is an absent field, the CSV way of saying null.
    if (cell === undefined || cell === '') continue;
    const path = header[index]!;
    if (path.length === 1 && OBJECT_FIELDS.has(path[0]!) && cell.trimStart().startsWith('{')) {
      try {
        record[path[0]!] = JSON.parse(cell);
      } catch (error) {
        return { error: { field: path[0]!, error: `${path[0]}: malformed JSON object: ${(error as Error).message}` } };
      }
      continue;
    }
    let target = record;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      if (next === undefined) target = target[part] = {} as Record<string, unknown>;
      else if (next !== null && typeof next === 'object' && !Array.isArray(next)) target = next as Record<string, unknown>;
      else return { error: { field: path.join('.'), error: `${path.join('.')}: column clashes with column ${part}` } };
    }
    target[path[path.length - 1]!] = typeCell(path, cell);
  }
  return { value: record };
}

/**
 * Reads CSV with a header row (RFC 4180 quoting, embedded newlines, a byte-order mark)
 * and yields records numbered by the physical line they start on, so CSV and NDJSON
 * rejects read the same way. A malformed row becomes an error record; the ingest goes on.
 */
export async function* parseCsv(stream: Readable): AsyncGenerator<SourceRecord[]> {
  const skipped: SourceRecord[] = [];
  const parser = stream.pipe(
    parse({
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
      // Like NDJSON lines: an unterminated quote must not pull a whole file into memory.
      max_record_size: MAX_LINE_CHARS,
      skip_records_with_error: true,
      on_skip: (error, raw) => {
        const line = (error as { lines?: number } | undefined)?.lines ?? 0;
        skipped.push({ line, text: raw ?? '', error: { field: null, error: `malformed CSV: ${error?.message ?? 'unreadable row'}` } });
      },
    }),
  );
  stream.on('error', (error) => parser.destroy(error));
  let header: string[][] | null = null;
  for await (const { record, raw, info } of parser as AsyncIterable<{ record: string[]; raw: string; info: { lines: number } }>) {
    if (skipped.length > 0) yield skipped.splice(0);
    const text = raw.replace(/\r?\n$/, '');
    const line = info.lines - (text.match(/\n/g)?.length ?? 0);
    if (!header) {
      header = record.map((name) => name.trim().split('.'));
      const names = header.map((path) => path.join('.'));
      const repeated = names.find((name, index) => names.indexOf(name) !== index);
      if (repeated) throw new CsvHeaderError(`CSV header repeats column ${repeated}`);
      continue;
    }
    if (record.length !== header.length) {
      yield [{ line, text, error: { field: null, error: `malformed CSV: ${record.length} fields where the header has ${header.length}` } }];
      continue;
    }
    const built = toObject(header, record);
    yield ['value' in built ? { line, text, value: built.value } : { line, text, error: built.error }];
  }
  if (skipped.length > 0) yield skipped.splice(0);
}

/** The header row cannot be read as columns: nothing in the file can be ingested. */
export class CsvHeaderError extends Error {
  override readonly name = 'CsvHeaderError';
}
