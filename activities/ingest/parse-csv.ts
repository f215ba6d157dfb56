import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { decodeUtf8 } from './decode-utf8';
import { MAX_LINE_BYTES, type SourceRecord } from './parse-ndjson';

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
function toObject(
  header: ReadonlyArray<readonly string[]>,
  cells: readonly string[],
): { value: Record<string, unknown> } | { error: { field: string; error: string } } {
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

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const NON_ASCII = /[\u0080-\u00ff]/;

/** Drops a UTF-8 byte-order mark, even when standard input delivers it byte by byte. */
async function* dropByteOrderMark(stream: Readable): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0);
  let decided = false;
  for await (const chunk of stream) {
    if (decided) {
      yield chunk as Buffer;
      continue;
    }
    head = Buffer.concat([head, chunk as Buffer]);
    if (head.length < UTF8_BOM.length && UTF8_BOM.subarray(0, head.length).equals(head)) continue;
    decided = true;
    yield head.subarray(0, UTF8_BOM.length).equals(UTF8_BOM) ? head.subarray(UTF8_BOM.length) : head;
  }
  if (!decided && head.length > 0 && !UTF8_BOM.subarray(0, head.length).equals(head)) yield head;
}

/** A cell or record read as latin1 (one character per byte), as the UTF-8 text its bytes spell. */
function toUtf8(latin1: string): string {
  return NON_ASCII.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

/**
 * Reads CSV with a header row (RFC 4180 quoting, embedded newlines, a byte-order mark)
 * and yields records numbered by the physical line they start on, so CSV and NDJSON
 * rejects read the same way. A malformed row becomes an error record; the ingest goes on.
 *
 * The parser reads bytes as latin1, which keeps every byte, so a record that is not UTF-8
 * is rejected on its own (the parser's own decoding would put U+FFFD in its place); the
 * cells of a record that is are turned back into the text they spell.
 */
export async function* parseCsv(stream: Readable): AsyncGenerator<SourceRecord[]> {
  const skipped: SourceRecord[] = [];
  /** The line the last record parsed ended on, in parse order: a skipped record starts after it. */
  let parsedUpTo = 0;
  const source = Readable.from(dropByteOrderMark(stream), { objectMode: false });
  const parser = source.pipe(
    parse({
      bom: false,
      encoding: 'latin1',
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
      // Like NDJSON lines: an unterminated quote must not pull a whole file into memory.
      max_record_size: MAX_LINE_BYTES,
      skip_records_with_error: true,
      on_record: (record, context) => {
        parsedUpTo = context.lines;
        return record;
      },
      on_skip: (error, raw) => {
        // The error's line is where parsing gave up (for an unclosed quote, the end of the
        // file); the record began after the previous one and the blank lines before it.
        const blank = /^[\r\n]*/.exec(raw ?? '')![0].split('\n').length - 1;
        const line = parsedUpTo + 1 + blank;
        parsedUpTo = (error as { lines?: number } | undefined)?.lines ?? parsedUpTo;
        skipped.push({
          line,
          text: toUtf8((raw ?? '').replace(/^[\r\n]+/, '')),
          error: { field: null, error: `malformed CSV: ${error?.message ?? 'unreadable row'}` },
        });
      },
    }),
  );
  stream.on('error', (error) => parser.destroy(error));
  source.on('error', (error) => parser.destroy(error));
  let header: string[][] | null = null;
  for await (const { record: cells, raw, info } of parser as AsyncIterable<{ record: string[]; raw: string; info: { lines: number } }>) {
    if (skipped.length > 0) yield skipped.splice(0);
    const rawText = raw.replace(/\r?\n$/, '');
    const line = info.lines - (rawText.match(/\n/g)?.length ?? 0);
    let text = rawText;
    let record = cells;
    if (NON_ASCII.test(rawText)) {
      const decoded = decodeUtf8(Buffer.from(rawText, 'latin1'));
      if (!decoded.ok) {
        if (!header) throw new CsvHeaderError(`CSV header is not UTF-8 (invalid byte at offset ${decoded.offset})`);
        yield [
          {
            line,
            text: decoded.text,
            error: {
              field: null,
              error: `invalid UTF-8 at byte offset ${decoded.offset} of the record: text must be sent as UTF-8 and is stored as sent`,
            },
          },
        ];
        continue;
      }
      text = decoded.text;
      record = cells.map(toUtf8);
    }
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
