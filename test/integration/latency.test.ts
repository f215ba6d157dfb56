import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCohort } from '../../activities/evaluate/cohorts';
import { cohortIdFor } from '../../contracts/cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { measureLabelLatency } from '../../activities/evaluate/label-latency';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

const testDb = useTestDatabase();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (day: number, hours = 0) => Date.parse(`2026-03-${String(day).padStart(2, '0')}T00:00:00Z`) + hours * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();
const AS_OF = iso(at(25));
const CURRENT = { model_name: 'loans', model_version: 'v1', environment: null, start: iso(at(10)), end: iso(at(11)) };
let definition: LabelDefinition;

/** A prediction in a day-long cohort and its default, received `receivedAfterEnd` ms after the cohort's end (or at event + receipt delay). */
function defaulted(day: number, region: string, eventMs: number, receivedMs: number) {
  const prediction_id = randomUUID();
  return {
    prediction: {
      prediction_id,
      model_name: 'loans',
      model_version: 'v1',
      environment: 'prod',
      region,
      ts_pred: iso(at(day, 1)),
      score: 0.5,
      entity_ids: {},
      segment: {},
    },
    outcome: {
      outcome_id: `default-${prediction_id}`,
      prediction_id,
      entity_ids: {},
      outcome_type: 'default',
      value: 100,
      ts_event: iso(eventMs),
      ts_received: iso(receivedMs),
    },
  };
}

const history = [
  // Cohort of March 1 (ends March 2): defaults received 1, 3, 4 and 8 days after its end.
  defaulted(1, 'eu', at(1, 2), at(2) + DAY),
  defaulted(1, 'eu', at(1, 2), at(2) + 3 * DAY),
  defaulted(1, 'us', at(1, 2), at(2) + 4 * DAY),
  defaulted(1, 'us', at(1, 2), at(2) + 8 * DAY),
  // Cohort of March 2 (ends March 3): 1 and 6 days after.
  defaulted(2, 'eu', at(2, 2), at(3) + DAY),
  defaulted(2, 'us', at(2, 2), at(3) + 6 * DAY),
  // Cohort of March 16: ends after the current one starts, so it is not history.
  defaulted(16, 'eu', at(16, 2), at(17) + 9 * DAY),
];
const current = [
  defaulted(10, 'eu', at(10, 2), at(10, 3)),
  defaulted(10, 'eu', at(10, 6), at(10, 16)),
  defaulted(10, 'us', at(12, 1), at(13, 1)),
];

beforeAll(async () => {
  await storeRows(
    testDb.db,
    'predictions',
    [...history, ...current].map((row) => row.prediction),
  );
  await storeRows(
    testDb.db,
    'outcomes',
    [...history, ...current].map((row) => row.outcome),
  );
  definition = (
    await putLabelDefinition(testDb.db, {
      name: 'loan-default',
      version: 1,
      model_name: 'loans',
      task: 'binary',
      window: 'P10D',
      checkpoints: ['P2D', 'P5D'],
      positive_outcome_types: ['default'],
      absent_means: 'negative',
      slices: ['region'],
    })
  ).definition;
  for (const day of [1, 2, 16]) {
    const selector = { model_name: 'loans', model_version: 'v1', environment: null, start: iso(at(day)), end: iso(at(day + 1)) };
    await registerCohort(testDb.db, {
      ...selector,
      cohort_id: cohortIdFor(selector, definition),
      label_definition_name: 'loan-default',
      label_definition_version: 1,
    });
  }
});

/** numpy.percentile's default (linear interpolation between order statistics). */
function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  return sorted[lower]! + (sorted[Math.min(lower + 1, sorted.length - 1)]! - sorted[lower]!) * (position - lower);
}

describe('measureLabelLatency', () => {
  it('gives p50/p90/p99 of event − prediction and received − event over the joined outcomes, overall and per slice', async () => {
    const document = await measureLabelLatency(testDb.db, { cohort: CURRENT, definition, asOf: AS_OF });
    const delays = (rows: typeof current) => ({
      event: rows.map((r) => (Date.parse(r.outcome.ts_event) - Date.parse(r.prediction.ts_pred)) / 1000),
      receipt: rows.map((r) => (Date.parse(r.outcome.ts_received) - Date.parse(r.outcome.ts_event)) / 1000),
    });
    const expectQuantiles = (actual: { p50: number; p90: number; p99: number } | null, values: number[]) => {
      expect(actual).not.toBeNull();
      for (const [name, q] of [
        ['p50', 0.5],
        ['p90', 0.9],
        ['p99', 0.99],
      ] as const)
        expect(Math.abs(actual![name] - percentile(values, q))).toBeLessThan(1e-6);
    };
    const all = delays(current);
    expect(document.overall.n).toBe(3);
    expectQuantiles(document.overall.event_minus_prediction, all.event);
    expectQuantiles(document.overall.received_minus_event, all.receipt);
    const eu = document.slices.find((s) => s.dimension === 'region' && s.value === 'eu')!;
    expectQuantiles(eu.event_minus_prediction, delays(current.slice(0, 2)).event);
  });

  it('expects the share of eventual positives that finalized earlier cohorts had at each checkpoint and at this as-of', async () => {
    const document = await measureLabelLatency(testDb.db, { cohort: CURRENT, definition, asOf: AS_OF });
    expect(document.history_cohorts).toHaveLength(2);
    const shares = (group: {
      expected_completeness: Array<{ checkpoint: string; expected_share: number | null; known: number; eventual: number }>;
    }) => group.expected_completeness.map((c) => [c.checkpoint, c.known, c.eventual]);
    expect(shares(document.overall)).toEqual([
      ['P2D', 2, 6],
      ['P5D', 4, 6],
      ['as_of', 6, 6],
    ]);
    expect(shares(document.slices.find((s) => s.value === 'eu')!)).toEqual([
      ['P2D', 2, 3],
      ['P5D', 3, 3],
      ['as_of', 3, 3],
    ]);
    expect(shares(document.slices.find((s) => s.value === 'us')!)).toEqual([
      ['P2D', 0, 3],
      ['P5D', 1, 3],
      ['as_of', 3, 3],
    ]);
    expect(document.overall.expected_completeness[0]!.expected_share).toBeCloseTo(2 / 6, 12);
  });

  it('has no expectation, rather than a made-up one, without finalized history', async () => {
    const document = await measureLabelLatency(testDb.db, { cohort: CURRENT, definition, asOf: iso(at(11, 12)) });
    expect(document.history_cohorts).toEqual([]);
    expect(document.overall.expected_completeness.every((c) => c.expected_share === null)).toBe(true);
  });

  it('is printed by hindsight latency --json', () => {
    const result = spawnSync(
      process.execPath,
      [
        path.join(__dirname, '..', '..', 'bin', 'hindsight.js'),
        'latency',
        '--model',
        'loans',
        '--version',
        'v1',
        '--from',
        CURRENT.start,
        '--to',
        CURRENT.end,
        '--label-definition',
        'loan-default',
        '--as-of',
        AS_OF,
        '--json',
      ],
      { encoding: 'utf8', env: { ...process.env, DATABASE_URL: testDb.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).overall.n).toBe(3);
  });
});
