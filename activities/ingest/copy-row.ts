import { createHash } from 'node:crypto';
import { INGEST_TABLES } from '../../sql/ingest-tables';
import { canonicalJson } from '../canonical-json';
import type { RecordKind } from './record-schemas';

const NEEDS_ESCAPE = /[\\\n\r\t]/;

/** A field of PostgreSQL's COPY text format: backslash escapes for the four special bytes. */
function escapeCopyText(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

function formatValue(type: string, value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (type === 'jsonb') return escapeCopyText(canonicalJson(value));
  if (type === 'boolean') return value ? 't' : 'f';
  return typeof value === 'string' ? escapeCopyText(value) : String(value);
}

/** Columns excluded from the content hash: when a record arrived is not what it says. */
const NOT_CONTENT = new Set(['ts_received', 'content_hash']);

/** Per kind, the columns in COPY order as flat arrays: this runs once per input line. */
const LAYOUTS = Object.fromEntries(
  Object.entries(INGEST_TABLES).map(([kind, spec]) => {
    const columns = spec.columns.filter(([name]) => name !== 'content_hash');
    return [kind, { names: columns.map(([name]) => name), types: columns.map(([, type]) => type as string), hashed: columns.map(([name]) => !NOT_CONTENT.has(name)) }];
  }),
) as Record<RecordKind, { names: string[]; types: string[]; hashed: boolean[] }>;

/**
 * Formats a validated row as one line of COPY text (`line`, the table's columns, and the
 * content hash last) and returns the hash too. The hash covers the stored values, so the
 * same record sent as NDJSON or CSV, with keys in any order, or with an explicit null in
 * place of an absent field, is an exact duplicate rather than a conflict.
 */
export function formatCopyRow(kind: RecordKind, line: number, row: Record<string, unknown>): { text: string; contentHash: string } {
  const { names, types, hashed } = LAYOUTS[kind];
  const fields: string[] = new Array(names.length);
  const content: string[] = [];
  for (let i = 0; i < names.length; i += 1) {
    const field = formatValue(types[i]!, row[names[i]!]);
    fields[i] = field;
    if (hashed[i]) content.push(field);
  }
  const contentHash = createHash('sha256').update(content.join('\t')).digest('base64url');
  return { text: `${line}\t${fields.join('\t')}\t${contentHash}\n`, contentHash };
}
