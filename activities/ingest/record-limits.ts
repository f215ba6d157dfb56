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

/** An object or array still to be walked, and where it sits (for the message). */
interface Container {
  value: object;
  key: string | number | null;
  parent: Container | null;
  depth: number;
}

function fieldPath(container: Container | null, key: string | number | null): string | null {
  const parts: string[] = [];
  const push = (part: string | number) =>
    parts.push(typeof part === 'number' ? `[${part}]` : part.length > 40 ? `${part.slice(0, 40)}…` : part);
  // Keys are cut short: a key may be megabytes long, the message must stay readable.
  if (key !== null) push(key);
  for (let at = container; at && at.key !== null; at = at.parent) push(at.key);
  if (parts.length === 0) return null;
  return parts.reverse().join('.').replace(/\.\[/g, '[');
}

function problem(container: Container | null, key: string | number | null, error: string): RecordProblem {
  const field = fieldPath(container, key);
  return { field, error: field ? `${field}: ${error}` : error };
}

/** The top-level field a container sits under: a path 32 levels deep would name nothing useful. */
function topField(container: Container): Container {
  let at = container;
  while (at.parent && at.parent.key !== null) at = at.parent;
  return at;
}

/** Why Postgres cannot store `text` as sent, or null: NUL is refused, a lone surrogate would become U+FFFD. */
function describeBadText(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which PostgreSQL cannot store in text or jsonb';
  if (!text.isWellFormed()) return 'contains an unpaired UTF-16 surrogate (e.g. \\ud800 alone), which is not Unicode text';
  return null;
}

/** The problem of one value that is not an object or array, or null. */
function checkScalar(value: unknown): string | null {
  if (typeof value === 'string') return describeBadText(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return 'number is out of range (beyond ±1.8e308)';
  return null;
}

/**
 * Returns the first problem of a parsed record (depth, key or item count, NUL or unpaired
 * surrogates in a string or a key, a number JSON cannot hold), or null when it can be stored.
 * Scalars are checked where they sit; only objects and arrays are queued (once per record
 * this runs for every line, so the common flat record allocates almost nothing).
 */
export function checkRecordLimits(record: unknown): RecordProblem | null {
  const rootProblem = checkScalar(record);
  if (rootProblem) return problem(null, null, rootProblem);
  if (record === null || typeof record !== 'object') return null;
  const stack: Container[] = [{ value: record, key: null, parent: null, depth: -1 }];
  for (let container = stack.pop(); container; container = stack.pop()) {
    const { value, depth } = container;
    if (depth >= RECORD_LIMITS.maxDepth) return problem(topField(container), null, `nested deeper than ${RECORD_LIMITS.maxDepth} levels`);
    if (Array.isArray(value)) {
      if (value.length > RECORD_LIMITS.maxArrayItems)
        return problem(container, null, `has ${value.length} items; at most ${RECORD_LIMITS.maxArrayItems} per array`);
      for (let i = 0; i < value.length; i += 1) {
        const item: unknown = value[i];
        if (item !== null && typeof item === 'object') stack.push({ value: item, key: i, parent: container, depth: depth + 1 });
        else {
          const bad = checkScalar(item);
          if (bad) return problem(container, i, bad);
        }
      }
      continue;
    }
    // for…in over parsed JSON (own, plain keys) counts as it goes instead of allocating a key array.
    let keyCount = 0;
    for (const key in value) {
      keyCount += 1;
      if (keyCount > RECORD_LIMITS.maxKeys)
        return problem(container, null, `has ${Object.keys(value).length} keys; at most ${RECORD_LIMITS.maxKeys} per object`);
      const badKey = describeBadText(key);
      if (badKey) return problem(container, null, `key ${JSON.stringify(key.slice(0, 40))} ${badKey}`);
      const item: unknown = (value as Record<string, unknown>)[key];
      if (item !== null && typeof item === 'object') stack.push({ value: item, key, parent: container, depth: depth + 1 });
      else {
        const bad = checkScalar(item);
        if (bad) return problem(container, key, bad);
      }
    }
  }
  return null;
}
