/** Deeper than any input that passes validation; keeps the recursion far from the stack limit. */
const MAX_CANONICAL_DEPTH = 256;

/** Quoted member names (`"key":`) of short keys seen before: the same few keys recur on every ingested line. */
const MEMBER_NAMES = new Map<string, string>();
const MAX_MEMBER_NAMES = 10_000;

function memberName(key: string): string {
  let name = MEMBER_NAMES.get(key);
  if (name === undefined) {
    name = `${JSON.stringify(key)}:`;
    if (key.length <= 64 && MEMBER_NAMES.size < MAX_MEMBER_NAMES) MEMBER_NAMES.set(key, name);
  }
  return name;
}

/** JSON with object keys sorted at every depth, so equal content hashes equally. */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_CANONICAL_DEPTH) throw new RangeError(`value nested deeper than ${MAX_CANONICAL_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    // Fast path (the common case): flat objects whose keys already arrive sorted.
    let flat = true;
    let sorted = true;
    for (let i = 0; i < keys.length; i += 1) {
      const item = (value as Record<string, unknown>)[keys[i]!];
      if ((item !== null && typeof item === 'object') || item === undefined) flat = false;
      if (i > 0 && keys[i - 1]! > keys[i]!) sorted = false;
    }
    if (flat && sorted) return JSON.stringify(value);
    if (!sorted) keys.sort();
    // Concatenated rather than joined from an array: this runs for every jsonb field ingested.
    let json = '{';
    for (const key of keys) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined) continue;
      json +=
        `${json.length === 1 ? '' : ','}${memberName(key)}` +
        `${typeof item === 'number' && Number.isFinite(item) ? String(item) : canonicalJson(item, depth + 1)}`;
    }
    return `${json}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
