/** What the example generators share: seeded ids, NDJSON, their flags. */

/**
 * A version-4-shaped UUID from a seeded uniform stream, so an example's generator writes the
 * same prediction ids for the same seed (and a second ingest of its files is all duplicates).
 */
export function seededUuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = (8 + Math.floor(random() * 4)).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Writes rows as NDJSON: one JSON object per line. */
export function toNdjson(rows: readonly object[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n') + '\n';
}

/** `--name N` from a generator's flags, a positive integer, or the fallback. */
export function integerFlag(flags: readonly string[], name: string, fallback: number): number {
  const at = flags.indexOf(name);
  const value = at >= 0 ? Number(flags[at + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}
