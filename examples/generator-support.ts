/** What the example generators share: seeded ids, NDJSON, their flags and files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

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

/** OUT_DIR and the flags after it, or the usage line on stderr and exit 2. */
export function generatorArgs(argv: readonly string[], usage: string): { out: string; flags: string[] } {
  const [out, ...flags] = argv;
  if (!out) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return { out, flags };
}

/** `--start ISO` from a generator's flags, or nothing so the generator keeps its default. */
export function startFlag(flags: readonly string[]): { start?: string } {
  const at = flags.indexOf('--start');
  return at >= 0 ? { start: flags[at + 1]! } : {};
}

/**
 * Writes an example into `out`: predictions.ndjson, outcomes.ndjson, any further NDJSON files
 * (name → rows), and truth.json; then says on stdout what it wrote.
 */
export function writeExample(
  out: string,
  example: { predictions: object[]; outcomes: object[]; truth: unknown },
  extra: Record<string, object[]> = {},
): void {
  mkdirSync(out, { recursive: true });
  const files: Record<string, object[]> = { 'predictions.ndjson': example.predictions, 'outcomes.ndjson': example.outcomes, ...extra };
  for (const [name, rows] of Object.entries(files)) writeFileSync(path.join(out, name), toNdjson(rows));
  writeFileSync(path.join(out, 'truth.json'), `${JSON.stringify(example.truth, null, 2)}\n`);
  process.stdout.write(`${example.predictions.length} predictions, ${example.outcomes.length} outcomes in ${out}\n`);
}
