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
    const neither = await run([]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('--every: give --every (a period such as P7D) or --chunk-size (predictions per chunk)');
    expect(neither.stderr).not.toContain('not both');
    const zero = await run(['--every', 'P0D']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('estimate: --every P0D is not longer than zero');
    const tiny = await run(['--every', 'PT1M']);
    expect(tiny.code).toBe(2);
    expect(tiny.stderr).toContain(
      'estimate: --every PT1M cuts [2026-03-01T00:00:00.000Z, 2026-03-06T00:00:00.000Z) into more than 1000 chunks',
    );
  });

  it('refuses a --chunk-size that cuts a range into more than 1000 chunks, before reading them', async () => {
    // 3000 reference predictions in chunks of 2: 1500 chunks
    const result = await run(['--chunk-size', '2']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      'estimate: --chunk-size 2 cuts [2026-03-01T00:00:00.000Z, 2026-03-06T00:00:00.000Z) into more than 1000 chunks; give a larger size',
    );
  });

  it('refuses an analysis or reference range without predictions, naming it', async () => {
    const empty = ['--every', 'P1D', '--calibrate', 'none'];
    const analysis = await runHindsightInProcess(
      [...ARGS.slice(0, 7), '--from', '2027-01-01T00:00:00Z', '--to', '2027-01-03T00:00:00Z', ...ARGS.slice(11), ...empty],
      { DATABASE_URL: testDb.url },
    );
    expect(analysis.code).toBe(2);
    expect(analysis.stderr).toContain(
      `estimate: the analysis range [2027-01-01T00:00:00.000Z, 2027-01-03T00:00:00.000Z) has no predictions of ${MODEL} v1 with a score in [0, 1]`,
    );
    const reference = await runHindsightInProcess(
      [...ARGS.slice(0, 11), '--reference-from', '2025-01-01T00:00:00Z', '--reference-to', '2025-01-03T00:00:00Z', ...empty],
      { DATABASE_URL: testDb.url },
    );
    expect(reference.code).toBe(2);
    expect(reference.stderr).toContain(
      'estimate: the reference range [2025-01-01T00:00:00.000Z, 2025-01-03T00:00:00.000Z) has no predictions',
    );
    const early = await run(['--every', 'P1D', '--as-of', '2026-02-01T00:00:00Z']);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain(
      'estimate: --as-of 2026-02-01T00:00:00.000Z is before both ranges begin (2026-03-01T00:00:00.000Z): no outcome of them can have been received by then',
    );
  });

  it('keeps predictions logged at the same instant in one chunk, without empty chunks, under --chunk-size', async () => {
    const model = 'cbpe-same-instant';
    const at = Date.parse('2026-05-01T00:00:00Z');
    // eight predictions at one instant, then four an hour apart: chunks of 3 start at k = 0, 3, 6 (all at `at`) and 9
    const times = [...Array.from({ length: 8 }, () => at), ...[1, 2, 3, 4].map((h) => at + h * 3_600_000)];
    await storeRows(
      testDb.db,
      'predictions',
      times.map((ts, i) => ({
        prediction_id: randomUUID(),
        model_name: model,
        model_version: 'v1',
        ts_pred: iso(ts),
        score: 0.05 + i * 0.08,
        entity_ids: {},
        segment: {},
      })),
    );
    await putLabelDefinition(testDb.db, {
      name: 'same-instant',
      version: 1,
      model_name: model,
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['bad'],
      negative_outcome_types: ['good'],
      absent_means: 'unknown',
    });
    const day = [iso(at), iso(at + DAY)];
    const result = await runHindsightInProcess(
      [
        'estimate',
        '--model',
        model,
        '--version',
        'v1',
        '--label-definition',
        'same-instant',
        '--from',
        day[0]!,
        '--to',
        day[1]!,
        '--reference-from',
        day[0]!,
        '--reference-to',
        day[1]!,
        '--chunk-size',
        '3',
        '--calibrate',
        'none',
        '--json',
      ],
      { DATABASE_URL: testDb.url },
    );
    expect(result.stderr).toBe('');
    const document = JSON.parse(result.stdout);
    expect(document.chunks.map((c: { from: string; to: string; n: number }) => [c.from, c.to, c.n])).toEqual([
      [iso(at), iso(at + 2 * 3_600_000), 9],
      [iso(at + 2 * 3_600_000), iso(at + DAY), 3],
    ]);
    expect(document.reference.chunks).toBe(2);
  });

  it('refuses a calibrator on a reference labeled with one class only, and reads the raw scores by default', async () => {
    const model = 'cbpe-one-class';
    const at = Date.parse('2026-06-01T00:00:00Z');
    const predictions: object[] = [];
    const outcomes: object[] = [];
    // day 1 (the reference): four predictions, all labeled positive; day 2 (the analysis): three
    [0.9, 0.8, 0.3, 0.6, 0.1, 0.2, 0.7].forEach((score, i) => {
      const prediction_id = randomUUID();
      const ts = at + (i < 4 ? 0 : DAY) + i * 3_600_000;
      predictions.push({ prediction_id, model_name: model, model_version: 'v1', ts_pred: iso(ts), score, entity_ids: {}, segment: {} });
      outcomes.push({
        outcome_id: `one-class-${prediction_id}`,
        prediction_id,
        outcome_type: i < 4 ? 'bad' : 'good',
        ts_event: iso(ts + 60_000),
        ts_received: iso(ts + 120_000),
      });
    });
    await storeRows(testDb.db, 'predictions', predictions);
    await storeRows(testDb.db, 'outcomes', outcomes);
    await putLabelDefinition(testDb.db, {
      name: 'one-class',
      version: 1,
      model_name: model,
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['bad'],
      negative_outcome_types: ['good'],
      absent_means: 'unknown',
    });
    const args = [
      'estimate',
      '--model',
      model,
      '--version',
      'v1',
      '--label-definition',
      'one-class',
      '--from',
      iso(at + DAY),
      '--to',
      iso(at + 2 * DAY),
      '--reference-from',
      iso(at),
      '--reference-to',
      iso(at + DAY),
      '--every',
      'P1D',
      '--as-of',
      iso(at + 3 * DAY),
    ];
    for (const method of ['isotonic', 'platt']) {
      const refused = await runHindsightInProcess([...args, '--calibrate', method], { DATABASE_URL: testDb.url });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `estimate: --calibrate ${method} needs positive and negative labels in the reference range, and its 4 labeled predictions ` +
          `as of ${iso(at + 3 * DAY)} are all positive; give --calibrate none`,
      );
    }
    const byDefault = await runHindsightInProcess([...args, '--json'], { DATABASE_URL: testDb.url });
    expect(byDefault.stderr).toBe('');
    const document = JSON.parse(byDefault.stdout);
    expect(document.reference.calibration).toBe('none');
    expect(document.chunks[0].estimated.positive_rate).toBeCloseTo((0.1 + 0.2 + 0.7) / 3, 12);
  });

  it('warns when analysis scores lie beyond the labeled reference scores the calibrator was fitted on, as when only low scores get labels', async () => {
    const model = 'cbpe-labeled-below';
    const at = Date.parse('2026-07-01T00:00:00Z');
    const predictions: object[] = [];
    const outcomes: object[] = [];
    // The reference day: 40 predictions scored 0.05 to 0.40, every one labeled (a quarter positive);
    // the analysis day: 20 scored 0.1 to 0.9, half of them above 0.40.
    const reference = Array.from({ length: 40 }, (_, i) => 0.05 + (0.35 * i) / 39);
    const analysis = Array.from({ length: 20 }, (_, i) => 0.1 + (0.8 * i) / 19);
    [...reference, ...analysis].forEach((score, i) => {
      const prediction_id = randomUUID();
      const ts = at + (i < 40 ? 0 : DAY) + (i % 40) * 60_000;
      predictions.push({ prediction_id, model_name: model, model_version: 'v1', ts_pred: iso(ts), score, entity_ids: {}, segment: {} });
      if (i < 40)
        outcomes.push({
          outcome_id: `below-${prediction_id}`,
          prediction_id,
          outcome_type: i % 4 === 0 ? 'bad' : 'good',
          ts_event: iso(ts + 60_000),
          ts_received: iso(ts + 120_000),
        });
    });
    await storeRows(testDb.db, 'predictions', predictions);
    await storeRows(testDb.db, 'outcomes', outcomes);
    await putLabelDefinition(testDb.db, {
      name: 'labeled-below',
      version: 1,
      model_name: model,
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['bad'],
      negative_outcome_types: ['good'],
      absent_means: 'unknown',
    });
    const args = [
      'estimate',
      '--model',
      model,
      '--version',
      'v1',
      '--label-definition',
      'labeled-below',
      '--from',
      iso(at + DAY),
      '--to',
      iso(at + 2 * DAY),
      '--reference-from',
      iso(at),
      '--reference-to',
      iso(at + DAY),
      '--every',
      'P1D',
      '--as-of',
      iso(at + 3 * DAY),
      '--json',
    ];
    const outside = analysis.filter((score) => score < 0.05 || score > 0.4).length;
    const warning =
      `${outside} of 20 analysis predictions (${(100 * outside) / 20}%) score outside [0.05, 0.4], the range of the reference's ` +
      'labeled scores the isotonic calibrator was fitted on';
    const calibrated = await runHindsightInProcess(args, { DATABASE_URL: testDb.url });
    expect(calibrated.code).toBe(0);
    expect(JSON.parse(calibrated.stdout).warnings).toEqual([expect.stringContaining(warning)]);
    expect(calibrated.stderr).toContain(`hindsight: estimate: warning: ${warning}`);
    // Read raw, nothing is extrapolated.
    const raw = await runHindsightInProcess([...args, '--calibrate', 'none'], { DATABASE_URL: testDb.url });
    expect(JSON.parse(raw.stdout).warnings).toEqual([]);
    expect(raw.stderr).toBe('');
  });

  it('cuts --every P1M from the range start, month by month, without drifting from the 31st', async () => {
    const model = 'cbpe-months';
    await storeRows(
      testDb.db,
      'predictions',
      ['2026-05-31T12:00:00Z', '2026-07-30T12:00:00Z', '2026-08-31T12:00:00Z'].map((ts, i) => ({
        prediction_id: randomUUID(),
        model_name: model,
        model_version: 'v1',
        ts_pred: ts,
        score: 0.2 + i * 0.3,
        entity_ids: {},
        segment: {},
      })),
    );
    await putLabelDefinition(testDb.db, {
      name: 'months',
      version: 1,
      model_name: model,
      task: 'binary',
      window: 'P1D',
      positive_outcome_types: ['bad'],
      absent_means: 'unknown',
    });
    const range = ['2026-05-31T00:00:00Z', '2026-09-01T00:00:00Z'];
    const result = await runHindsightInProcess(
      [
        'estimate',
        '--model',
        model,
        '--version',
        'v1',
        '--label-definition',
        'months',
        '--from',
        range[0]!,
        '--to',
        range[1]!,
        '--reference-from',
        range[0]!,
        '--reference-to',
        range[1]!,
        '--every',
        'P1M',
        '--calibrate',
        'none',
        '--json',
      ],
      { DATABASE_URL: testDb.url },
    );
    expect(result.stderr).toBe('');
    const document = JSON.parse(result.stdout);
    expect(document.chunks.map((c: { from: string; n: number }) => [c.from, c.n])).toEqual([
      ['2026-05-31T00:00:00.000Z', 1],
      ['2026-06-30T00:00:00.000Z', 1],
      ['2026-07-31T00:00:00.000Z', 0],
      ['2026-08-31T00:00:00.000Z', 1],
    ]);
  });
});
