import { hash } from 'node:crypto';
import { INGEST_TABLES } from '../../sql/ingest-tables';
import { canonicalJson } from '../../contracts/canonical-json';
import type { RecordKind } from '../../contracts/records';

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

interface Layout {
  names: string[];
  types: string[];
  hashed: boolean[];
  /** Every column is content (no `ts_received`): the hashed text is the row's text itself. */
  allHashed: boolean;
}

/** Per kind, the columns in COPY order as flat arrays: this runs once per input line. */
const LAYOUTS = Object.fromEntries(
  Object.entries(INGEST_TABLES).map(([kind, spec]) => {
    const columns = spec.columns.filter(([name]) => name !== 'content_hash');
    const hashed = columns.map(([name]) => !NOT_CONTENT.has(name));
    return [
      kind,
      { names: columns.map(([name]) => name), types: columns.map(([, type]) => type as string), hashed, allHashed: hashed.every(Boolean) },
    ];
  }),
) as Record<RecordKind, Layout>;

/**
 * Formats a validated row as one line of COPY text (`line`, the table's columns, and the
 * content hash last) and returns the hash too. The hash covers the stored values (the
 * content columns' COPY fields joined by tabs), so the same record sent as NDJSON or CSV,
 * with keys in any order, or with an explicit null in place of an absent field, is an exact
 * duplicate rather than a conflict. Built by concatenation, without per-row arrays: this runs
 * for every input line, and a million lines of garbage arrays cost the ingest seconds.
 */
export function formatCopyRow(kind: RecordKind, line: number, row: Record<string, unknown>): { text: string; contentHash: string } {
  const { names, types, hashed, allHashed } = LAYOUTS[kind];
  let fields = formatValue(types[0]!, row[names[0]!]);
  let content = allHashed ? '' : hashed[0] ? fields : null;
  for (let i = 1; i < names.length; i += 1) {
    const field = formatValue(types[i]!, row[names[i]!]);
    fields += `\t${field}`;
    if (!allHashed && hashed[i]) content = content === null ? field : `${content}\t${field}`;
  }
  const contentHash = hash('sha256', allHashed ? fields : (content ?? ''), 'base64url');
  return { text: `${line}\t${fields}\t${contentHash}\n`, contentHash };
}
