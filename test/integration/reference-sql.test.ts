import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import { mulberry32 as random } from '../../stats/seeded-random';
import { leakageHorizon, type LabelDefinition } from '../../contracts/label-definition';
import { type EvaluationDocument } from '../../contracts/evaluation';

/**
 * sql/reference/*.sql, run by the real psql with its variables, against the evaluation's
 * numbers on the same generated cohort: the labels (n_labeled, n_final, n_positive), the
 * join counts, the Brier score and the uniform calibration bins, to 1e-12. The outcomes
 * all carry a prediction_id (the path the reference SQL spells out) and exercise the
 * leakage guard, the window, as-of, unnamed types and ties.
 */
const REFERENCE = path.join(__dirname, '..', '..', 'sql', 'reference');
const TOLERANCE = 1e-12;
const MODEL = 'reference-model';
const START = '2026-03-01T00:00:00.000Z';
const END = '2026-03-08T00:00:00.000Z';
const AS_OF = '2026-03-19T00:00:00.000Z';
const HOUR = 3_600_000;
const testDb = useTestDatabase();

const iso = (ms: number) => new Date(ms).toISOString();

async function storeCohort(): Promise<void> {
  const next = random(20_261_101);
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const start = Date.parse(START);
  for (let i = 0; i < 600; i += 1) {
    const id = randomUUID();
    // Some predictions before or after the cohort, some in another environment.
    const tsPred = start + Math.floor((next() * 9 - 1) * 24) * HOUR + (i % 60) * 1000;
    // Exact tenths land on (or just off) the bin edges; a few scores are out of [0, 1].
    const roll = next();
    const score = roll < 0.25 ? Math.floor(next() * 11) / 10 : roll < 0.27 ? 1.5 : next();
    predictions.push({
      prediction_id: id,
      model_name: MODEL,
      model_version: 'v1',
      environment: next() < 0.1 ? 'staging' : 'production',
      ts_pred: iso(tsPred),
      score,
    });
    const outcome = (n: number, type: string, eventMs: number, receivedMs: number) => {
      outcomes.push({
        outcome_id: `o-${i}-${n}`,
        prediction_id: id,
        outcome_type: type,
        ts_event: iso(eventMs),
        ts_received: iso(receivedMs),
      });
    };
    const kind = next();
    const event = tsPred + Math.floor(next() * 13 * 24) * HOUR;
    if (kind < 0.2) outcome(1, 'fraud', event, event + 6 * HOUR);
    else if (kind < 0.45) outcome(1, 'legit', event, event + 6 * HOUR);
    else if (kind < 0.55) {
      // A negative then a positive, or both at the same instant (the tie goes to the positive).
      outcome(1, 'legit', event, event + HOUR);
      outcome(2, 'fraud', next() < 0.5 ? event : event + 24 * HOUR, event + 30 * HOUR);
    } else if (kind < 0.6)
      outcome(1, 'fraud', tsPred - 2 * HOUR, tsPred + HOUR); // time leakage
    else if (kind < 0.62)
      outcome(1, 'fraud', tsPred - 20 * 24 * HOUR, tsPred + HOUR); // history, beyond the horizon
    else if (kind < 0.67)
      outcome(1, 'fraud', tsPred + 15 * 24 * HOUR, tsPred + 15 * 24 * HOUR); // after the window
    else if (kind < 0.72)
      outcome(1, 'fraud', event, Date.parse(AS_OF) + HOUR); // not yet received
    else if (kind < 0.75) outcome(1, 'escalated', event, event + HOUR); // a type the definition does not name
  }
  await storeRows(testDb.db, 'predictions', predictions);
  await storeRows(testDb.db, 'outcomes', outcomes);
}

interface Run {
  definition: LabelDefinition;
  document: EvaluationDocument;
}
const runs = new Map<string, Run>();

beforeAll(async () => {
  await storeCohort();
  for (const absentMeans of ['negative', 'unknown'] as const) {
    const { definition } = await putLabelDefinition(testDb.db, {
      name: `reference-${absentMeans}`,
      version: 1,
      model_name: MODEL,
      task: 'binary',
      window: 'P14D',
      positive_outcome_types: ['fraud'],
      negative_outcome_types: ['legit'],
      absent_means: absentMeans,
      slices: [],
    });
    const document = await evaluateCohort(
      testDb.db,
      { model_name: MODEL, model_version: 'v1', environment: 'production', start: START, end: END },
      definition,
      AS_OF,
    );
    runs.set(absentMeans, { definition, document });
  }
});

/** The psql variables prediction_id_join.sql documents, for one definition. */
function variables(def: LabelDefinition): Record<string, string> {
  const array = (values: string[]) => `{${values.join(',')}}`;
  return {
    model: MODEL,
    version: 'v1',
    environment: 'production',
    start_ts: START,
    end_ts: END,
    as_of: AS_OF,
    label_window: def.window,
    leakage_horizon: leakageHorizon(def),
    positive_types: array(def.positive_outcome_types),
    negative_types: array(def.negative_outcome_types),
    absent_means: def.absent_means,
  };
}

/**
 * Runs psql with the variables and the steps (`-f FILE` for a reference file, `-c TEXT`
 * otherwise) in one session, printing only the last step's result, as CSV rows.
 */
function psql(def: LabelDefinition, steps: string[]): Promise<Array<Record<string, string>>> {
  const args = ['-X', '-q', '--csv', '-v', 'ON_ERROR_STOP=1', '-d', testDb.url];
  for (const [name, value] of Object.entries(variables(def))) args.push('-v', `${name}=${value}`);
  args.push('-c', '\\o /dev/null');
  steps.forEach((step, i) => {
    if (i === steps.length - 1) args.push('-c', '\\o');
    if (step.endsWith('.sql')) args.push('-f', path.join(REFERENCE, step));
    else args.push('-c', step);
  });
  return new Promise((resolve, reject) => {
    execFile('psql', args, (error, stdout, stderr) => {
      if (error) return reject(new Error(`psql failed: ${stderr || error.message}`));
      const [header, ...lines] = stdout.trim().split('\n');
      const names = header!.split(',');
      resolve(lines.map((line) => Object.fromEntries(line.split(',').map((value, i) => [names[i]!, value]))));
    });
  });
}

describe.each(['negative', 'unknown'] as const)('sql/reference with absent_means %s', (absentMeans) => {
  it('labels the cohort and counts the join as the evaluation does', async () => {
    const { definition, document } = runs.get(absentMeans)!;
    const labeled = await psql(definition, ['prediction_id_join.sql']);
    const overall = document.overall as Record<string, number>;
    expect(overall.n).toBeGreaterThan(300);
    expect(labeled.length).toBe(overall.n);
    expect(labeled.filter((row) => row.label !== '').length).toBe(overall.n_labeled);
    expect(labeled.filter((row) => row.is_final === 't').length).toBe(overall.n_final);
    expect(labeled.filter((row) => row.label === '1').length).toBe(overall.n_positive);
    expect(document.excluded.invalid_score).toBeGreaterThan(0);

    const [counts] = await psql(definition, [
      'prediction_id_join.sql',
      `select
      count(distinct outcome_id) filter (where status = 'joined') as by_prediction_id,
      count(distinct outcome_id) filter (where status = 'rejected_before_prediction') as rejected_before_prediction,
      count(distinct outcome_id) filter (where status = 'outside_window') as outside_window
      from reference_pairs`,
    ]);
    expect(document.join.rejected_before_prediction).toBeGreaterThan(0);
    expect(document.join.outside_window).toBeGreaterThan(0);
    expect({
      by_prediction_id: Number(counts!.by_prediction_id),
      rejected_before_prediction: Number(counts!.rejected_before_prediction),
      outside_window: Number(counts!.outside_window),
    }).toEqual({
      by_prediction_id: document.join.by_prediction_id,
      rejected_before_prediction: document.join.rejected_before_prediction,
      outside_window: document.join.outside_window,
    });
  });

  it('gives the Brier score of the evaluation', async () => {
    const { definition, document } = runs.get(absentMeans)!;
    const [row] = await psql(definition, ['prediction_id_join.sql', 'brier.sql']);
    const overall = document.overall as Record<string, number>;
    expect(Number(row!.n_labeled)).toBe(overall.n_labeled);
    expect(Math.abs(Number(row!.brier) - overall.brier)).toBeLessThan(TOLERANCE);
  });

  it('gives the ten uniform calibration bins of the evaluation', async () => {
    const { definition, document } = runs.get(absentMeans)!;
    const bins = await psql(definition, ['prediction_id_join.sql', 'calibration_bins.sql']);
    const expected = (document.overall as { calibration: { uniform: Array<Record<string, number>> } }).calibration.uniform;
    expect(bins.length).toBe(10);
    expect(bins.length).toBe(expected.length);
    bins.forEach((bin, i) => {
      const want = expected[i]!;
      expect(Number(bin.count)).toBe(want.count);
      for (const field of ['lower', 'upper', 'mean_predicted', 'fraction_positive']) {
        expect(Math.abs(Number(bin[field]) - want[field]!), `bin ${i} ${field}`).toBeLessThan(TOLERANCE);
      }
    });
  });
});
