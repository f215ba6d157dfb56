/** Deeper than any input that passes validation; keeps the recursion far from the stack limit. */
const MAX_CANONICAL_DEPTH = 256;

/** JSON with object keys sorted at every depth, so equal content hashes equally. */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_CANONICAL_DEPTH) throw new RangeError(`value nested deeper than ${MAX_CANONICAL_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    // Fast path (the common case): flat objects whose keys already arrive sorted.
    let flatAndSorted = true;
    for (let i = 0; i < keys.length && flatAndSorted; i += 1) {
      const item = (value as Record<string, unknown>)[keys[i]!];
      if ((item !== null && typeof item === 'object') || item === undefined || (i > 0 && keys[i - 1]! > keys[i]!)) flatAndSorted = false;
    }
    if (flatAndSorted) return JSON.stringify(value);
    keys.sort();
    const parts: string[] = [];
    for (const key of keys) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) parts.push(`${JSON.stringify(key)}:${canonicalJson(item, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
