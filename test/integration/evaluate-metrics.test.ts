import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { THRESHOLD_GRID } from '../../sql/evaluate-cohort';
import type { BinaryMetrics, RegressionMetrics } from '../../stats/finish-metrics';
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, metricIntervals } from '../../stats/metric-intervals';
import { main } from '../../cli/hindsight';
import { migrate } from '../../sql/migrate';
import { createDatabase, openDatabaseServer, type DatabaseHandle } from '../../workers/database';
import { loadEnv } from '../../workers/env';
import { useTestDatabase } from '../support/database';
import { collectMismatches } from '../fixtures/metrics/collect-mismatches';
import { type LabelDefinition } from '../../contracts/label-definition';
import { type EvaluationDocument } from '../../contracts/evaluation';

/**
 * The real evaluation (join SQL, metric SQL, TypeScript finishing) against the numbers
 * scikit-learn, SciPy and NumPy give on the same rows: test/fixtures/metrics/generate.py.
 * Each case is its own model in one database; labels come through the id join.
 */

interface FixtureRow {
  score: number;
  label?: 0 | 1 | null;
  target?: number | null;
  threshold?: number;
  region?: string;
  environment?: string;
  segment?: Record<string, string>;
  value?: number;
}

interface FixtureCase {
  name: string;
  note: string;
  slices: string[];
  decision_threshold?: number;
  costs?: { fp: number; fn: number } | null;
  rows: FixtureRow[];
  expected: { overall: Record<string, unknown>; slices: Array<Record<string, unknown> & { dimension: string; value: string | null }> };
}

interface FixtureFile {
  threshold_grid: number[];
  cases: FixtureCase[];
}

const FIXTURES = path.resolve(__dirname, '../fixtures/metrics');
const TOLERANCE = 1e-9;
const START = '2026-03-01T00:00:00.000Z';
const END = '2026-03-08T00:00:00.000Z';
const AS_OF = '2026-05-01T00:00:00.000Z';
const HOUR = 3_600_000;

const testDb = useTestDatabase();
let workDir: string;

async function loadFixtures(file: string): Promise<FixtureFile> {
  return JSON.parse(await readFile(path.join(FIXTURES, file), 'utf8')) as FixtureFile;
}

async function ingest(db: Knex, kind: 'predictions' | 'outcomes', records: object[]): Promise<void> {
  const file = path.join(workDir, `${kind}-${randomUUID()}.ndjson`);
  await writeFile(file, records.map((record) => JSON.stringify(record)).join('\n'));
  const result = await ingestNdjsonFile(db, kind, file);
  expect(result.rejected).toEqual([]);
  expect(result.accepted).toBe(records.length);
}

/**
 * Stores one case: a prediction per row spread over the cohort week, and for each labeled
 * row an outcome carrying its prediction_id a day later (positive or negative type; for
 * regression the target as value). Unlabeled rows get no outcome (absent means unknown).
 */
async function loadCase(
  task: 'binary' | 'regression',
  fixture: FixtureCase,
  prefix = '',
  db: Knex = testDb.db,
): Promise<{ definition: LabelDefinition; model: string }> {
  const model = `${prefix}${task}-${fixture.name}`;
  const { definition } = await putLabelDefinition(db, {
    name: `fixture-${model}`,
    version: 1,
    model_name: model,
    task,
    window: 'P14D',
    ...(task === 'binary'
      ? {
          positive_outcome_types: ['fraud'],
          negative_outcome_types: ['legit'],
          decision_threshold: fixture.decision_threshold,
          ...(fixture.costs ? { costs: fixture.costs } : {}),
        }
      : { outcome_types: ['amount'] }),
    absent_means: 'unknown',
    slices: fixture.slices,
  });
  const predictions: object[] = [];
  const outcomes: object[] = [];
  fixture.rows.forEach((row, i) => {
    const predictionId = randomUUID();
    const tsPred = Date.parse(START) + (i % 160) * HOUR;
    predictions.push({
      prediction_id: predictionId,
      model_name: model,
      model_version: 'v1',
      ts_pred: new Date(tsPred).toISOString(),
      score: row.score,
      ...(row.threshold !== undefined ? { threshold: row.threshold } : {}),
      ...(row.region !== undefined ? { region: row.region } : {}),
      ...(row.environment !== undefined ? { environment: row.environment } : {}),
      segment: row.segment ?? {},
    });
    const label = task === 'binary' ? row.label : row.target;
    if (label === null || label === undefined) return;
    outcomes.push({
      outcome_id: `${model}-${i}`,
      prediction_id: predictionId,
      outcome_type: task === 'regression' ? 'amount' : label === 1 ? 'fraud' : 'legit',
      ...(task === 'regression' ? { value: row.target } : row.value !== undefined ? { value: row.value } : {}),
      ts_event: new Date(tsPred + 24 * HOUR).toISOString(),
      ts_received: new Date(tsPred + 48 * HOUR).toISOString(),
    });
  });
  await ingest(db, 'predictions', predictions);
  if (outcomes.length > 0) await ingest(db, 'outcomes', outcomes);
  return { definition, model };
}

async function evaluateCase(task: 'binary' | 'regression', fixture: FixtureCase): Promise<EvaluationDocument> {
  const { definition, model } = await loadCase(task, fixture);
  return evaluateCohort(
    testDb.db,
    { model_name: model, model_version: 'v1', environment: null, start: START, end: END },
    definition,
    AS_OF,
  );
}

function sliceKey(slice: { dimension: string; value: string | null }): string {
  return `${slice.dimension}=${slice.value ?? '(missing)'}`;
}

/** Every expected number to 1e-9, every null with its reason, every slice and no other, in order. */
function expectDocumentMatches(document: EvaluationDocument, fixture: FixtureCase): void {
  const mismatches = collectMismatches(document.overall, fixture.expected.overall, 'overall', TOLERANCE);
  const actualSlices = new Map(document.slices.map((slice) => [sliceKey(slice), slice]));
  for (const expected of fixture.expected.slices) {
    const actual = actualSlices.get(sliceKey(expected));
    if (!actual) mismatches.push(`slice ${sliceKey(expected)} is missing`);
    else mismatches.push(...collectMismatches(actual, expected, `slice ${sliceKey(expected)}`, TOLERANCE));
  }
  expect(mismatches).toEqual([]);
  // In the definition's dimension order, values in code-point order, a missing value last.
  expect(document.slices.map(sliceKey)).toEqual(fixture.expected.slices.map(sliceKey));
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-metrics-'));
});

describe('evaluateCohort on binary labels equals scikit-learn to 1e-9', async () => {
  const fixtures = await loadFixtures('binary-cases.json');

  it('uses the threshold grid the fixtures were generated with', () => {
    expect(THRESHOLD_GRID).toEqual(fixtures.threshold_grid);
  });

  for (const fixture of fixtures.cases) {
    it(`${fixture.name}: ${fixture.note}`, async () => {
      testDb.keepOnFailure();
      expectDocumentMatches(await evaluateCase('binary', fixture), fixture);
    });
  }
});

describe('evaluateCohort on regression targets equals scikit-learn to 1e-9', async () => {
  const fixtures = await loadFixtures('regression-cases.json');
  for (const fixture of fixtures.cases) {
    it(`${fixture.name}: ${fixture.note}`, async () => {
      testDb.keepOnFailure();
      expectDocumentMatches(await evaluateCase('regression', fixture), fixture);
    });
  }
});

describe('evaluateCohort on a cohort without predictions', () => {
  for (const task of ['binary', 'regression'] as const) {
    it(`gives ${task} metrics of n = 0, each null with its reason, and no slices, instead of failing`, async () => {
      const { definition } = await putLabelDefinition(testDb.db, {
        name: `empty-${task}`,
        version: 1,
        model_name: `empty-${task}`,
        task,
        window: 'P14D',
        ...(task === 'binary' ? { positive_outcome_types: ['fraud'], costs: { fp: 1, fn: 2 } } : { outcome_types: ['amount'] }),
        slices: ['region'],
      });
      const document = await evaluateCohort(
        testDb.db,
        { model_name: `empty-${task}`, model_version: 'v1', environment: null, start: START, end: END },
        definition,
        AS_OF,
      );
      expect(document.overall.n).toBe(0);
      expect(document.slices).toEqual([]);
      const nulls = Object.entries(document.overall)
        .filter(([, value]) => value === null)
        .map(([name]) => name);
      expect(nulls.length).toBeGreaterThan(0);
      expect(Object.keys(document.overall.undefined_metrics).sort()).toEqual(nulls.sort());
      const numbers = (value: unknown): number[] =>
        typeof value === 'number' ? [value] : value && typeof value === 'object' ? Object.values(value).flatMap(numbers) : [];
      expect(numbers(document.overall).every(Number.isFinite)).toBe(true);
    });
  }
});

/** Runs the command line in this process, capturing what it prints. */
async function hindsight(args: string[]): Promise<{ code: number; stdout: string }> {
  process.env.DATABASE_URL = testDb.url;
  let stdout = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  try {
    return { code: await main(['node', 'hindsight', ...args]), stdout };
  } finally {
    out.mockRestore();
  }
}

describe('hindsight evaluate', async () => {
  const fixture = (await loadFixtures('binary-cases.json')).cases.find((candidate) => candidate.name === 'all-negative')!;
  const args = (model: string) => [
    'evaluate',
    '--model',
    model,
    '--version',
    'v1',
    '--from',
    START,
    '--to',
    END,
    '--label-definition',
    `fixture-${model}`,
    '--as-of',
    AS_OF,
  ];

  it('prints with --json the evaluation document, equal to scikit-learn like the activity', async () => {
    testDb.keepOnFailure();
    const { model } = await loadCase('binary', fixture, 'cli-json-');
    const { code, stdout } = await hindsight([...args(model), '--json']);
    expect(code).toBe(0);
    const document = JSON.parse(stdout) as EvaluationDocument;
    expect(collectMismatches(document.overall, fixture.expected.overall, 'overall', TOLERANCE)).toEqual([]);
    expect(document.slices.map(sliceKey)).toEqual(fixture.expected.slices.map(sliceKey));
  });

  it('prints for people every null metric with its reason, the calibration bins, deciles and threshold curve', async () => {
    const { model } = await loadCase('binary', fixture, 'cli-human-');
    const { code, stdout } = await hindsight(args(model));
    expect(code).toBe(0);
    for (const [name, reason] of Object.entries(fixture.expected.overall.undefined_metrics as Record<string, string>)) {
      expect(stdout).toMatch(new RegExp(`^  ${name} +— +\\(${reason}\\)$`, 'm'));
    }
    for (const table of ['calibration (uniform)', 'calibration (quantile)', 'score deciles', 'threshold curve (every 0.1)'])
      expect(stdout).toContain(`  ${table}\n`);
    for (const slice of fixture.expected.slices)
      expect(stdout).toContain(`  ${sliceKey(slice)}: n=${slice.n as number} labeled=${slice.n_labeled as number} roc_auc=—`);
  });
});

describe('hindsight evaluate --intervals', () => {
  interface IntervalCase {
    name: string;
    scores: number[];
    labels: number[];
    thresholds: number[];
    flagged: number[];
    wilson: Record<string, [number, number, number]>;
    delong: [number, number, number];
    bootstrap: Record<string, [number, number]>;
  }

  it('adds to every group a 95% interval per headline metric: overall equal to the SciPy/NumPy fixture, each slice its own rows', async () => {
    testDb.keepOnFailure();
    const c = (
      JSON.parse(await readFile(path.resolve(__dirname, '../fixtures/intervals/intervals.json'), 'utf8')) as { cases: IntervalCase[] }
    ).cases.find((candidate) => candidate.name === 'small_60_mixed_thresholds')!;
    const region = (i: number) => (i % 3 === 0 ? 'north' : 'south');
    const { model } = await loadCase(
      'binary',
      {
        name: 'intervals',
        note: '',
        slices: ['region'],
        rows: c.scores.map((score, i) => ({ score, label: c.labels[i] as 0 | 1, threshold: c.thresholds[i]!, region: region(i) })),
        expected: { overall: {}, slices: [] },
      },
      'cli-intervals-',
    );
    const args = ['evaluate', '--model', model, '--version', 'v1', '--from', START, '--to', END];
    const { code, stdout } = await hindsight([
      ...args,
      '--label-definition',
      `fixture-${model}`,
      '--as-of',
      AS_OF,
      '--intervals',
      '--json',
    ]);
    expect(code).toBe(0);
    const document = JSON.parse(stdout) as EvaluationDocument;
    const overall = document.overall as BinaryMetrics;
    const near = (actual: number | null, expected: number, what: string) =>
      expect(Math.abs(actual! - expected), `${what}: ${actual} vs ${expected}`).toBeLessThan(1e-9);
    for (const [metric, [value, low, high]] of Object.entries(c.wilson)) {
      const interval = overall.intervals!.metrics[metric as keyof typeof overall.intervals.metrics];
      near(interval.value, value, metric);
      near(interval.low, low, `${metric} low`);
      near(interval.high, high, `${metric} high`);
    }
    near(overall.intervals!.metrics.roc_auc.low, c.delong[1], 'roc_auc low');
    near(overall.intervals!.metrics.roc_auc.value, overall.roc_auc!, 'roc_auc as evaluated');
    for (const [metric, [low, high]] of Object.entries(c.bootstrap)) {
      const interval = overall.intervals!.metrics[metric as 'pr_auc' | 'f1' | 'brier' | 'log_loss'];
      near(interval.low, low, `${metric} low`);
      near(interval.high, high, `${metric} high`);
      near(interval.value, overall[metric as 'pr_auc' | 'f1' | 'brier' | 'log_loss']!, `${metric} as evaluated`);
    }
    expect(document.slices.map((slice) => slice.value)).toEqual(['north', 'south']);
    for (const slice of document.slices) {
      const rows = c.scores.flatMap((score, i) => (region(i) === slice.value ? [i] : []));
      const expected = metricIntervals({
        scores: rows.map((i) => c.scores[i]!),
        labels: rows.map((i) => c.labels[i]!),
        flagged: rows.map((i) => c.flagged[i]!),
      });
      const actual = (slice as BinaryMetrics).intervals!;
      expect(actual.undefined_intervals).toEqual(expected.undefined_intervals);
      for (const [metric, interval] of Object.entries(expected.metrics)) {
        const got = actual.metrics[metric as keyof typeof actual.metrics];
        expect(got.method).toBe(interval.method);
        for (const end of ['value', 'low', 'high'] as const) near(got[end], interval[end]!, `${slice.value} ${metric} ${end}`);
      }
    }
    const text = await hindsight([...args, '--label-definition', `fixture-${model}`, '--as-of', AS_OF, '--intervals']);
    expect(text.stdout).toContain(`  95% intervals (bootstrap seed ${BOOTSTRAP_SEED}, ${BOOTSTRAP_RESAMPLES} resamples)\n`);
    const recall = overall.intervals!.metrics.recall;
    expect(text.stdout).toContain(
      `    recall     ${recall.value!.toFixed(4)} [${recall.low!.toFixed(4)}, ${recall.high!.toFixed(4)}] wilson\n`,
    );
    // Without the flag the document carries no intervals.
    const plain = JSON.parse((await hindsight([...args, '--label-definition', `fixture-${model}`, '--as-of', AS_OF, '--json'])).stdout);
    expect(plain.overall.intervals).toBeUndefined();
  });
});

describe('hindsight evaluate --intervals on a regression definition', () => {
  it('adds the bootstrap intervals of MAE, RMSE, bias and R², equal to the NumPy/scikit-learn fixture', async () => {
    const c = (
      JSON.parse(await readFile(path.resolve(__dirname, '../fixtures/intervals/intervals.json'), 'utf8')) as {
        regression: Array<{ name: string; scores: number[]; targets: number[]; bootstrap: Record<string, [number, number]> }>;
      }
    ).regression.find((candidate) => candidate.name === 'counts_40')!;
    const rows = c.scores.map((score, i) => ({ score, target: c.targets[i]! }));
    const { model } = await loadCase(
      'regression',
      { name: 'intervals', note: '', slices: [], rows, expected: { overall: {}, slices: [] } },
      'cli-',
    );
    const args = ['evaluate', '--model', model, '--version', 'v1', '--from', START, '--to', END, '--label-definition', `fixture-${model}`];
    const { code, stdout } = await hindsight([...args, '--as-of', AS_OF, '--intervals', '--json']);
    expect(code).toBe(0);
    const overall = (JSON.parse(stdout) as EvaluationDocument).overall as RegressionMetrics;
    for (const [metric, [low, high]] of Object.entries(c.bootstrap)) {
      const interval = overall.intervals!.metrics[metric as keyof typeof overall.intervals.metrics];
      expect(Math.abs(interval.low! - low), `${metric} low`).toBeLessThan(1e-9);
      expect(Math.abs(interval.high! - high), `${metric} high`).toBeLessThan(1e-9);
      expect(Math.abs(interval.value! - (overall[metric as 'mae'] as number)), `${metric} value`).toBeLessThan(1e-9);
    }
  });
});

describe('decision_source: logged', () => {
  it("counts precision, recall and F1 from each prediction's logged decision, and leaves out those without one (excluded.no_decision)", async () => {
    testDb.keepOnFailure();
    const model = 'logged-decisions';
    // 60 predictions: the service decided score >= 0.65, logged as a boolean, a number or a word; every 7th logged nothing.
    const rows = Array.from({ length: 60 }, (_, i) => {
      const score = ((i * 37) % 60) / 60;
      const label = (i * 11) % 5 < 2 ? 1 : 0;
      const decided = score >= 0.65;
      const decision = i % 7 === 0 ? undefined : i % 3 === 0 ? decided : i % 3 === 1 ? (decided ? 1 : 0) : decided ? 'flag' : 'pass';
      return { score, label, decision, decided };
    });
    const predictions = rows.map((row, i) => ({
      prediction_id: randomUUID(),
      model_name: model,
      model_version: 'v1',
      ts_pred: new Date(Date.parse(START) + i * HOUR).toISOString(),
      score: row.score,
      ...(row.decision === undefined ? {} : { decision: row.decision }),
    }));
    await ingest(testDb.db, 'predictions', predictions);
    await ingest(
      testDb.db,
      'outcomes',
      predictions.map((prediction, i) => ({
        outcome_id: `${model}-${i}`,
        prediction_id: prediction.prediction_id,
        outcome_type: rows[i]!.label === 1 ? 'fraud' : 'legit',
        ts_event: new Date(Date.parse(prediction.ts_pred) + HOUR).toISOString(),
        ts_received: new Date(Date.parse(prediction.ts_pred) + 2 * HOUR).toISOString(),
      })),
    );
    const evaluate = async (name: string, extra: object) => {
      const { definition } = await putLabelDefinition(testDb.db, {
        name,
        version: 1,
        model_name: model,
        task: 'binary',
        window: 'P14D',
        positive_outcome_types: ['fraud'],
        negative_outcome_types: ['legit'],
        absent_means: 'unknown',
        ...extra,
      });
      return evaluateCohort(
        testDb.db,
        { model_name: model, model_version: 'v1', environment: null, start: START, end: END },
        definition,
        AS_OF,
      );
    };
    /** Precision, recall and F1 counted here from the rows kept and what decided each. */
    const expected = (kept: typeof rows, positive: (row: (typeof rows)[number]) => boolean) => {
      const tp = kept.filter((row) => row.label === 1 && positive(row)).length;
      const fp = kept.filter((row) => row.label === 0 && positive(row)).length;
      const positives = kept.filter((row) => row.label === 1).length;
      return { n: kept.length, precision: tp / (tp + fp), recall: tp / positives, f1: (2 * tp) / (tp + fp + positives) };
    };
    const pick = (m: GroupMetricsLike) => ({ n: m.n, precision: m.precision, recall: m.recall, f1: m.f1 });

    const logged = await evaluate('logged-decisions', { decision_source: 'logged' });
    const withDecision = rows.filter((row) => row.decision !== undefined);
    expect(logged.excluded).toEqual({ invalid_score: 0, no_decision: rows.length - withDecision.length });
    // true and 1 are positive by default; 'flag' is another word, so a negative decision.
    const byDefault = expected(withDecision, (row) => row.decision === true || row.decision === 1);
    expect(pick(logged.overall as GroupMetricsLike)).toEqual(byDefault);

    const words = await evaluate('logged-decisions-words', { decision_source: 'logged', positive_decisions: ['true', '1', 'flag'] });
    expect(pick(words.overall as GroupMetricsLike)).toEqual(expected(withDecision, (row) => row.decided));

    const threshold = await evaluate('threshold-decisions', {});
    expect(threshold.excluded).toEqual({ invalid_score: 0 });
    expect(pick(threshold.overall as GroupMetricsLike)).toEqual(expected(rows, (row) => row.score >= 0.5));
  });
});

type GroupMetricsLike = { n: number; precision: number | null; recall: number | null; f1: number | null };

describe('on the embedded database (PGlite, the `hindsight dev` default) the same SQL gives the same numbers', async () => {
  const fixtures = await loadFixtures('binary-cases.json');
  let embedded: DatabaseHandle;
  let db: Knex;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-pglite-'));
    embedded = await openDatabaseServer(loadEnv({ HINDSIGHT_STATE_DIR: stateDir }));
    db = createDatabase(embedded.url, { maxConnections: embedded.maxConnections });
    await migrate(db);
  }, 120_000);

  afterAll(async () => {
    await db?.destroy();
    await embedded?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  for (const name of ['ties', 'tiny-slices', 'random-2000', 'many-slice-values']) {
    it(`${name}: equals scikit-learn to 1e-9`, async () => {
      const fixture = fixtures.cases.find((candidate) => candidate.name === name)!;
      const { definition, model } = await loadCase('binary', fixture, 'embedded-', db);
      const document = await evaluateCohort(
        db,
        { model_name: model, model_version: 'v1', environment: null, start: START, end: END },
        definition,
        AS_OF,
      );
      expectDocumentMatches(document, fixture);
    }, 120_000);
  }
});
