import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { CHUNK_METRICS, type ChunkMetrics } from '../../stats/cbpe-estimate';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

interface Rows {
  scores: number[];
  labels: number[];
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'estimate', 'cbpe.json'), 'utf8')) as {
  reference: Rows & { chunk_size: number };
  band: Record<string, [number, number]>;
  chunks: Array<Rows & { estimated: ChunkMetrics; estimated_raw: ChunkMetrics; realized: ChunkMetrics }>;
};

const testDb = useTestDatabase();
const DAY = 86_400_000;
const REFERENCE = Date.parse('2026-03-01T00:00:00Z');
const ANALYSIS = Date.parse('2026-03-10T00:00:00Z');
const MODEL = 'cbpe-miscalibrated';
const iso = (ms: number) => new Date(ms).toISOString();

/** One day per chunk: the reference's five chunks of 600, the analysis's three of 800, each labeled an hour later. */
async function storeDays(start: number, days: Rows[]): Promise<void> {
  const predictions: object[] = [];
  const outcomes: object[] = [];
  days.forEach((day, d) =>
    day.scores.forEach((score, i) => {
      const prediction_id = randomUUID();
      const ts = start + d * DAY + Math.floor((i * DAY) / day.scores.length);
      predictions.push({ prediction_id, model_name: MODEL, model_version: 'v1', ts_pred: iso(ts), score, entity_ids: {}, segment: {} });
      outcomes.push({
        outcome_id: `cbpe-${prediction_id}`,
        prediction_id,
        outcome_type: day.labels[i] === 1 ? 'bad' : 'good',
        ts_event: iso(ts + 3_600_000),
        ts_received: iso(ts + 7_200_000),
      });
    }),
  );
  await storeRows(testDb.db, 'predictions', predictions);
  await storeRows(testDb.db, 'outcomes', outcomes);
}

beforeAll(async () => {
  const size = fixture.reference.chunk_size;
  const referenceDays = Array.from({ length: fixture.reference.scores.length / size }, (_, k) => ({
    scores: fixture.reference.scores.slice(k * size, (k + 1) * size),
    labels: fixture.reference.labels.slice(k * size, (k + 1) * size),
  }));
  await storeDays(REFERENCE, referenceDays);
  await storeDays(ANALYSIS, fixture.chunks);
  await putLabelDefinition(testDb.db, {
    name: 'cbpe-defaults',
    version: 1,
    model_name: MODEL,
    task: 'binary',
    window: 'P1D',
    positive_outcome_types: ['bad'],
    negative_outcome_types: ['good'],
    absent_means: 'unknown',
  });
});

const ARGS = [
  'estimate',
  '--model',
  MODEL,
  '--version',
  'v1',
  '--label-definition',
  'cbpe-defaults',
  '--from',
  iso(ANALYSIS),
  '--to',
  iso(ANALYSIS + 3 * DAY),
  '--reference-from',
  iso(REFERENCE),
  '--reference-to',
  iso(REFERENCE + 5 * DAY),
];
const run = (args: string[]) => runHindsightInProcess([...ARGS, ...args], { DATABASE_URL: testDb.url });

function expectMetrics(actual: ChunkMetrics, expected: ChunkMetrics, what: string): void {
  for (const metric of CHUNK_METRICS) expect(Math.abs(actual[metric]! - expected[metric]!), `${what} ${metric}`).toBeLessThan(1e-9);
  for (const cell of ['tp', 'fp', 'fn', 'tn'] as const)
    expect(Math.abs(actual.confusion_matrix[cell] - expected.confusion_matrix[cell]), `${what} ${cell}`).toBeLessThan(1e-9);
}

describe('hindsight estimate', () => {
  it('per day: the isotonic-calibrated CBPE estimate, the realized value and the reference band equal scikit-learn + NumPy to 1e-9', async () => {
    const result = await run(['--every', 'P1D', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document.reference).toEqual({
      from: iso(REFERENCE),
      to: iso(REFERENCE + 5 * DAY),
      n: 3000,
      n_labeled: 3000,
      calibration: 'isotonic',
      chunks: 5,
    });
    expect(document.chunks.map((c: { from: string; n: number }) => [c.from, c.n])).toEqual(
      fixture.chunks.map((_, k) => [iso(ANALYSIS + k * DAY), 800]),
    );
    document.chunks.forEach(
      (
        chunk: { estimated: ChunkMetrics; realized: ChunkMetrics; band: Record<string, [number, number]>; outside_band: string[] },
        k: number,
      ) => {
        expectMetrics(chunk.estimated, fixture.chunks[k]!.estimated, `chunk ${k} estimated`);
        expectMetrics(chunk.realized, fixture.chunks[k]!.realized, `chunk ${k} realized`);
        for (const metric of CHUNK_METRICS) {
          const [low, high] = fixture.band[metric]!;
          expect(Math.abs(chunk.band[metric]![0] - low) + Math.abs(chunk.band[metric]![1] - high), metric).toBeLessThan(1e-9);
        }
        const value = (metric: string) => chunk.estimated[metric as keyof ChunkMetrics] as number;
        expect(chunk.outside_band).toEqual(CHUNK_METRICS.filter((m) => value(m) < fixture.band[m]![0] || value(m) > fixture.band[m]![1]));
      },
    );
  });

  it('cuts the same chunks by --chunk-size, reads raw scores with --calibrate none, prints a table, and refuses both cuts at once', async () => {
    const text = await run(['--chunk-size', '800', '--calibrate', 'none']);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    // The reference cut by 800 too: 800, 800, 800 and 600.
    expect(text.stdout).toContain('3000 predictions, 3000 labeled, 4 chunks; calibration none');
    for (const [k, chunk] of fixture.chunks.entries()) {
      expect(text.stdout).toContain(`[${iso(ANALYSIS + k * DAY)}, ${iso(ANALYSIS + (k + 1) * DAY)}) n 800, labeled 800`);
      expect(text.stdout).toContain(
        `  recall         estimated ${chunk.estimated_raw.recall!.toFixed(4)}  realized ${chunk.realized.recall!.toFixed(4)}`,
      );
    }
    const both = await run(['--every', 'P1D', '--chunk-size', '800']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--every: give --every or --chunk-size, not both');
    const tiny = await run(['--every', 'PT1M']);
    expect(tiny.code).toBe(2);
    expect(tiny.stderr).toContain(
      'estimate: --every PT1M cuts [2026-03-01T00:00:00.000Z, 2026-03-06T00:00:00.000Z) into more than 1000 chunks',
    );
  });
});
