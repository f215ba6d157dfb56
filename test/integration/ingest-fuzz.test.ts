import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatCopyRow } from '../../activities/ingest/copy-row';
import { ingestFile } from '../../activities/ingest/ingest-records';
import { parseCsv } from '../../activities/ingest/parse-csv';
import { validateRecord } from '../../activities/ingest/validate-record';
import { mulberry32 } from '../../stats/seeded-random';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const RECEIVED = '2026-12-01T00:00:00.000000Z';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-fuzz-'));
});

/** mulberry32: a small seeded PRNG, so every run feeds the same inputs and a failure replays. */
function createRandom(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)]! };
}
type Random = ReturnType<typeof createRandom>;

const TEXTS = ['fraud', 'café', '☕ 日本', 'tab\there', 'back\\slash', '\\N', 'a\\u0000b', 'emoji 😀', '\uFFFD', 'x'.repeat(1000), ''];
const CSV_TEXTS = ['fraud', 'café', '☕ 日本', 'back\\slash', '\\N', 'emoji 😀', '\uFFFD', 'plain'];
/** Bytes a mutation puts in: structure, escapes, invalid UTF-8 lead and continuation bytes, NUL, digits. */
const BYTES = [
  0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x2e, 0x30, 0x31, 0x39, 0x3a, 0x5b, 0x5c, 0x5d, 0x65, 0x7b, 0x7d, 0x75, 0x80, 0xbf, 0xc3, 0xe2,
  0xed, 0xf0, 0xf8, 0xff,
];
const CSV_BYTES = BYTES.filter((byte) => byte !== 0x22 && byte !== 0x0a && byte !== 0x0d);

function uuid(random: Random): string {
  const hex = Array.from({ length: 32 }, () => '0123456789abcdef'[random.int(16)]).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function timestamp(random: Random): string {
  const day = String(1 + random.int(28)).padStart(2, '0');
  return random.pick([`2026-11-${day}T10:00:00Z`, `2026-12-${day}T23:59:59.123456+02:00`, `2026-10-${day}T00:00:00.5-0130`]);
}

function nested(random: Random, depth: number): unknown {
  if (depth === 0 || random.next() < 0.3) return random.pick<unknown>([random.next(), random.pick(TEXTS), true, null, random.int(1000)]);
  if (random.next() < 0.5) return Array.from({ length: random.int(3) }, () => nested(random, depth - 1));
  return Object.fromEntries(Array.from({ length: random.int(3) }, () => [random.pick(TEXTS), nested(random, depth - 1)]));
}

function predictionRecord(random: Random, id: string): Record<string, unknown> {
  const record: Record<string, unknown> = {
    prediction_id: id,
    model_name: random.pick(TEXTS),
    model_version: '1',
    ts_pred: timestamp(random),
    score: random.next(),
  };
  if (random.next() < 0.5) record.segment = { device: random.pick(TEXTS) };
  if (random.next() < 0.5) record.features = nested(random, random.next() < 0.1 ? 40 : 4);
  if (random.next() < 0.3) record.entity_ids = { user_id: random.pick<string | number>([random.pick(TEXTS), random.int(99)]) };
  if (random.next() < 0.2) record.position = random.pick([0, 3, 2 ** 31, -1, 1.5]);
  if (random.next() < 0.1) record.colour = random.pick(TEXTS);
  return record;
}

/** Flips, inserts, deletes or truncates bytes, so lines turn into broken JSON, broken UTF-8 or other valid records. */
function mutate(random: Random, bytes: Buffer, pool: readonly number[]): Buffer {
  const copy = [...bytes];
  for (let n = 1 + random.int(3); n > 0 && copy.length > 0; n -= 1) {
    const at = random.int(copy.length);
    const kind = random.int(4);
    if (kind === 0) copy[at] = random.pick(pool);
    else if (kind === 1) copy.splice(at, 0, random.pick(pool));
    else if (kind === 2) copy.splice(at, 1);
    else copy.length = at;
  }
  return Buffer.from(copy);
}

/** Lines with repeated ids (duplicates and conflicts), and a share of them mutated. */
function generateLines(
  random: Random,
  count: number,
  toLine: (record: Record<string, unknown>) => Buffer,
  pool: readonly number[],
): Buffer[] {
  const lines: Buffer[] = [];
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const reuse = ids.length > 0 && random.next() < 0.2;
    const id = reuse ? random.pick(ids) : uuid(random);
    ids.push(id);
    const previous = reuse ? lines[random.int(lines.length)] : undefined;
    let line = previous && random.next() < 0.5 ? previous : toLine(predictionRecord(random, id));
    if (random.next() < 0.3) line = mutate(random, line, pool);
    lines.push(line);
  }
  return lines;
}

interface Expected {
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejectedLines: number[];
  /** The first valid line of each id: what must be stored. */
  stored: Map<string, { row: Record<string, unknown>; hash: string }>;
}

/** Applies the identity rules to each line's own verdict (valid row or not), in input order. */
function expectOutcome(verdicts: Array<{ line: number; row: Record<string, unknown> | null }>): Expected {
  const expected: Expected = { accepted: 0, duplicates: 0, conflicts: 0, rejectedLines: [], stored: new Map() };
  for (const { line, row } of verdicts) {
    if (!row) {
      expected.rejectedLines.push(line);
      continue;
    }
    const hash = formatCopyRow('predictions', line, row).contentHash;
    const first = expected.stored.get(row.prediction_id as string);
    if (!first) {
      expected.stored.set(row.prediction_id as string, { row, hash });
      expected.accepted += 1;
    } else if (first.hash === hash) expected.duplicates += 1;
    else expected.conflicts += 1;
  }
  return expected;
}

/** Each NDJSON line judged on its own, independently of the stream reader: strict UTF-8, JSON.parse, the validator. */
function judgeNdjsonLines(file: Buffer): Array<{ line: number; row: Record<string, unknown> | null }> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const verdicts: Array<{ line: number; row: Record<string, unknown> | null }> = [];
  const parts: Buffer[] = [];
  for (let start = 0; start <= file.length;) {
    const end = file.indexOf(0x0a, start);
    parts.push(file.subarray(start, end === -1 ? file.length : end));
    if (end === -1) break;
    start = end + 1;
  }
  if (parts.length > 0 && parts[parts.length - 1]!.length === 0) parts.pop();
  parts.forEach((bytes, index) => {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      verdicts.push({ line: index + 1, row: null });
      return;
    }
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      verdicts.push({ line: index + 1, row: null });
      return;
    }
    const checked = validateRecord('predictions', value, { receivedAt: RECEIVED });
    verdicts.push({ line: index + 1, row: checked.ok ? checked.row : null });
  });
  return verdicts;
}

async function checkStored(expected: Expected): Promise<void> {
  const ids = [...expected.stored.keys()];
  const rows =
    ids.length === 0
      ? []
      : await testDb
          .db('predictions')
          .whereIn('prediction_id', ids)
          .select('prediction_id', 'model_name', 'segment', 'features', 'extra', 'content_hash');
  expect(rows.length).toBe(ids.length);
  for (const row of rows) {
    const want = expected.stored.get(row.prediction_id)!;
    // The stored row is exactly the first valid line of its id: its text as sent, its hash.
    expect(row.content_hash).toBe(want.hash);
    expect(row.model_name).toBe(want.row.model_name);
    expect(row.segment).toEqual(want.row.segment);
    expect(row.features ?? null).toEqual(want.row.features ?? null);
    expect(row.extra ?? null).toEqual(want.row.extra ?? null);
  }
}

describe('ingest fuzz (seeded): never a crash, never a stored row that is not a valid input line, every line accounted for', () => {
  it('NDJSON: random and mutated lines, across chunk boundaries', async () => {
    const random = createRandom(13);
    const seen = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0 };
    for (let round = 0; round < 6; round += 1) {
      const lines = generateLines(random, 250, (record) => Buffer.from(JSON.stringify(record)), BYTES);
      const bytes = Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]));
      const file = path.join(dir, `fuzz-${round}.ndjson`);
      await writeFile(file, bytes);
      const expected = expectOutcome(judgeNdjsonLines(bytes));
      const result = await ingestFile(testDb.db, 'predictions', file, { chunkRows: 40 + round * 17 });
      expect({
        accepted: result.accepted,
        duplicates: result.duplicates,
        conflicts: result.conflicts,
        rejected: result.rejected.map((r) => r.line),
      }).toEqual({
        accepted: expected.accepted,
        duplicates: expected.duplicates,
        conflicts: expected.conflicts,
        rejected: expected.rejectedLines,
      });
      expect(result.rejected_count).toBe(expected.rejectedLines.length);
      await checkStored(expected);
      seen.accepted += result.accepted;
      seen.duplicates += result.duplicates;
      seen.conflicts += result.conflicts;
      seen.rejected += result.rejected_count;
      // Ingested again: every valid line is now a duplicate or a conflict with what was stored.
      const again = await ingestFile(testDb.db, 'predictions', file, { chunkRows: 64 });
      expect(again.accepted).toBe(0);
      expect(again.duplicates + again.conflicts).toBe(expected.accepted + expected.duplicates + expected.conflicts);
    }
    // The inputs reach every outcome, or the fuzz proves little.
    expect(Math.min(...Object.values(seen))).toBeGreaterThan(20);
  });

  it('CSV: random and mutated rows, each judged alone against the same rows streamed together', async () => {
    const random = createRandom(31);
    const seen = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0 };
    const header = 'prediction_id,model_name,model_version,ts_pred,score,segment.device,features.amount,features.note';
    const toCsvLine = (record: Record<string, unknown>) => {
      const cells = [
        record.prediction_id,
        random.pick(CSV_TEXTS),
        record.model_version,
        record.ts_pred,
        record.score,
        random.pick(['ios', '', 'web']),
        random.pick(['12.5', '', 'abc', '1e400']),
        random.pick(CSV_TEXTS),
      ];
      return Buffer.from(cells.map((cell) => String(cell)).join(','));
    };
    for (let round = 0; round < 4; round += 1) {
      const lines = generateLines(random, 200, toCsvLine, CSV_BYTES);
      // Now and then the last row opens a quote it never closes.
      if (round % 2 === 1) lines.push(Buffer.from(`${uuid(random)},"unclosed,1,2026-11-01T00:00:00Z,0.5,,,`));
      const bytes = Buffer.concat([Buffer.from(`${header}\n`), ...lines.flatMap((line) => [line, Buffer.from('\n')])]);
      const file = path.join(dir, `fuzz-${round}.csv`);
      await writeFile(file, bytes);
      const verdicts: Array<{ line: number; row: Record<string, unknown> | null }> = [];
      for (const [index, line] of lines.entries()) {
        const alone: Array<{ value?: unknown; error?: unknown }> = [];
        for await (const batch of parseCsv(Readable.from([Buffer.from(`${header}\n`), line, Buffer.from('\n')]))) alone.push(...batch);
        if (alone.length === 0) continue;
        expect(alone).toHaveLength(1);
        const checked = alone[0]!.error ? null : validateRecord('predictions', alone[0]!.value, { receivedAt: RECEIVED });
        verdicts.push({ line: index + 2, row: checked?.ok ? checked.row : null });
      }
      const expected = expectOutcome(verdicts);
      const result = await ingestFile(testDb.db, 'predictions', file, { chunkRows: 30 + round * 11 });
      expect({
        accepted: result.accepted,
        duplicates: result.duplicates,
        conflicts: result.conflicts,
        rejected: result.rejected.map((r) => r.line).sort((a, b) => a - b),
      }).toEqual({
        accepted: expected.accepted,
        duplicates: expected.duplicates,
        conflicts: expected.conflicts,
        rejected: expected.rejectedLines,
      });
      await checkStored(expected);
      seen.accepted += result.accepted;
      seen.duplicates += result.duplicates;
      seen.conflicts += result.conflicts;
      seen.rejected += result.rejected_count;
    }
    expect(Math.min(...Object.values(seen))).toBeGreaterThan(20);
  });

  it('the validator never throws on random JSON values, however deep, wide or strange', () => {
    const random = createRandom(7);
    let rejected = 0;
    for (let i = 0; i < 3000; i += 1) {
      const record: Record<string, unknown> = predictionRecord(random, uuid(random));
      const field = random.pick(['features', 'segment', 'entity_ids', 'extra_field', 'score', 'ts_pred', 'prediction_id']);
      let value: unknown = nested(random, 6);
      if (random.next() < 0.05) for (let d = 0; d < 50_000; d += 1) value = random.next() < 0.5 ? [value] : { k: value };
      record[field] = value;
      const checked = validateRecord('predictions', record, { receivedAt: RECEIVED });
      expect(typeof checked.ok).toBe('boolean');
      if (checked.ok) expect(formatCopyRow('predictions', 1, checked.row).text.endsWith('\n')).toBe(true);
      else rejected += 1;
    }
    expect(rejected).toBeGreaterThan(100);
    expect(rejected).toBeLessThan(2900);
  });
});
