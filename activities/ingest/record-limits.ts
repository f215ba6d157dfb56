/**
 * Limits every parsed record must keep before it is validated or stored. Checked by one
 * iterative walk, so no input can overflow the stack here, in the content hash or in
 * Postgres' jsonb parser, and every value the database would refuse or silently alter is
 * rejected with its field named instead of failing a whole chunk.
 */
export const RECORD_LIMITS = {
  /** Nesting below a top-level field: `features: {"a": 1}` is depth 1. */
  maxDepth: 32,
  /** Keys of one object (`features`, `segment`, `entity_ids`, unknown fields, the record). */
  maxKeys: 1000,
  /** Items of one array. */
  maxArrayItems: 10_000,
} as const;

export interface RecordProblem {
  field: string | null;
  error: string;
}

interface Pending {
  value: unknown;
  key: string | number | null;
  parent: Pending | null;
  depth: number;
}

function fieldPath(node: Pending | null): string | null {
  const parts: string[] = [];
  // Keys are cut short: a key may be megabytes long, the message must stay readable.
  for (let at = node; at && at.key !== null; at = at.parent) parts.push(typeof at.key === 'number' ? `[${at.key}]` : at.key.length > 40 ? `${at.key.slice(0, 40)}…` : at.key);
  if (parts.length === 0) return null;
  return parts.reverse().join('.').replace(/\.\[/g, '[');
}

/** The top-level field a value sits under: a path 32 levels deep would name nothing useful. */
function topField(node: Pending): Pending {
  let at = node;
  while (at.parent && at.parent.key !== null) at = at.parent;
  return at;
}

function problem(node: Pending | null, error: string): RecordProblem {
  const field = fieldPath(node);
  return { field, error: field ? `${field}: ${error}` : error };
}

/** Why Postgres cannot store `text` as sent, or null: NUL is refused, a lone surrogate would become U+FFFD. */
function describeBadText(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which PostgreSQL cannot store in text or jsonb';
  if (!text.isWellFormed()) return 'contains an unpaired UTF-16 surrogate (e.g. \\ud800 alone), which is not Unicode text';
  return null;
}

/**
 * Returns the first problem of a parsed record (depth, key or item count, NUL or unpaired
 * surrogates in a string or a key, a number JSON cannot hold), or null when it can be stored.
 */
export function checkRecordLimits(record: unknown): RecordProblem | null {
  const stack: Pending[] = [{ value: record, key: null, parent: null, depth: -1 }];
  for (let node = stack.pop(); node; node = stack.pop()) {
    const { value, depth } = node;
    if (typeof value === 'string') {
      const bad = describeBadText(value);
      if (bad) return problem(node, bad);
      continue;
    }
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return problem(node, 'number is out of range (beyond ±1.8e308)');
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= RECORD_LIMITS.maxDepth) return problem(topField(node), `nested deeper than ${RECORD_LIMITS.maxDepth} levels`);
    if (Array.isArray(value)) {
      if (value.length > RECORD_LIMITS.maxArrayItems) return problem(node, `has ${value.length} items; at most ${RECORD_LIMITS.maxArrayItems} per array`);
      for (let i = value.length - 1; i >= 0; i -= 1) stack.push({ value: value[i], key: i, parent: node, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(value);
    if (keys.length > RECORD_LIMITS.maxKeys) return problem(node, `has ${keys.length} keys; at most ${RECORD_LIMITS.maxKeys} per object`);
    for (let i = keys.length - 1; i >= 0; i -= 1) {
      const key = keys[i]!;
      const bad = describeBadText(key);
      if (bad) return problem(node, `key ${JSON.stringify(key.slice(0, 40))} ${bad}`);
      stack.push({ value: (value as Record<string, unknown>)[key], key, parent: node, depth: depth + 1 });
    }
  }
  return null;
}
