import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { mulberry32 } from '../../stats/seeded-random';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

const testDb = useTestDatabase();
const T = Date.parse('2026-08-03T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const cohort = (model: string) => ({ model_name: model, model_version: 'v1', environment: null, start: iso(T), end: iso(T + 86_400_000) });
const AS_OF = iso(T + 40 * 86_400_000);
const definitions: Record<string, LabelDefinition> = {};

interface Row {
  score: number;
  positive: boolean;
  exploration: boolean;
}

/**
 * Fraud scores with chargebacks drawn from the score itself; `blocked` says whether the
 * policy's own traffic loses its positives (a blocked transaction never charges back).
 */
function rows(seed: number, n: number, blocked: boolean): Row[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const score = Math.round(random() * 1000) / 1000;
    const exploration = random() < 0.3;
    const positive = random() < score * 0.5 && (exploration || !blocked || score < 0.5);
    return { score, positive, exploration };
  });
}

async function store(model: string, data: Row[], withFlag = true): Promise<void> {
  const predictions = data.map((row, i) => ({
    prediction_id: randomUUID(),
    model_name: model,
    model_version: 'v1',
    ts_pred: iso(T + i * 1000),
    score: row.score,
    entity_ids: {},
    segment: {},
    ...(withFlag ? { is_exploration: row.exploration, propensity: row.exploration ? 0.3 : 0.7 } : {}),
  }));
  await storeRows(testDb.db, 'predictions', predictions);
  await storeRows(
    testDb.db,
    'outcomes',
    predictions.flatMap((p, i) =>
      data[i]!.positive
        ? [
            {
              outcome_id: randomUUID(),
              prediction_id: p.prediction_id,
              entity_ids: {},
              outcome_type: 'chargeback',
              ts_event: iso(T + 2 * 86_400_000),
              ts_received: iso(T + 3 * 86_400_000),
            },
          ]
        : [],
    ),
  );
  definitions[model] = (
    await putLabelDefinition(testDb.db, {
      name: `cb-${model}`,
      version: 1,
      model_name: model,
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['chargeback'],
      slices: ['region'],
    })
  ).definition;
}

/** Deep equality, numbers to 1e-12: sums over differently cut segments may differ in the last bit. */
function expectClose(actual: unknown, expected: unknown, at = 'metrics'): void {
  if (typeof actual === 'number' && typeof expected === 'number') {
    expect(Math.abs(actual - expected), at).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected)));
  } else if (actual !== null && expected !== null && typeof actual === 'object' && typeof expected === 'object') {
    expect(Object.keys(actual).sort(), at).toEqual(Object.keys(expected).sort());
    for (const key of Object.keys(expected))
      expectClose((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${at}.${key}`);
  } else {
    expect(actual, at).toEqual(expected);
  }
}

const unbiased = rows(1, 3000, false);
const biased = rows(2, 3000, true);

interface WeightedCase {
  score: number[];
  label: number[];
  propensity: number[];
  expected: { base_rate: { value: number; ci_low: number; ci_high: number }; roc_auc: number; effective_sample_size: number };
}
const weighted = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'off-policy', 'off-policy.json'), 'utf8')) as { weighted: WeightedCase }
).weighted;

beforeAll(async () => {
  // The weighted case's rows, plus one labeled prediction without a propensity (left out).
  const weightedRows = weighted.score.map((score, i) => ({
    prediction_id: randomUUID(),
    model_name: 'weighted',
    model_version: 'v1',
    ts_pred: iso(T + i * 1000),
    score,
    propensity: weighted.propensity[i],
    entity_ids: {},
    segment: {},
  }));
  weightedRows.push({
    prediction_id: randomUUID(),
    model_name: 'weighted',
    model_version: 'v1',
    ts_pred: iso(T),
    score: 0.5,
    propensity: undefined as unknown as number,
    entity_ids: {},
    segment: {},
  });
  await storeRows(testDb.db, 'predictions', weightedRows);
  await storeRows(
    testDb.db,
    'outcomes',
    weightedRows.flatMap((p, i) =>
      weighted.label[i] === 1
        ? [
            {
              outcome_id: randomUUID(),
              prediction_id: p.prediction_id,
              entity_ids: {},
              outcome_type: 'chargeback',
              ts_event: iso(T + 86_400_000),
              ts_received: iso(T + 86_400_000),
            },
          ]
        : [],
    ),
  );
  definitions.weighted = (
    await putLabelDefinition(testDb.db, {
      name: 'cb-weighted',
      version: 1,
      model_name: 'weighted',
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['chargeback'],
    })
  ).definition;
  await store('fraud-even', unbiased);
  await store('fraud-blocked', biased);
  // The same rows split into two cohorts of their own: what each side of the split must equal.
  await store(
    'fraud-even-exploration',
    unbiased.filter((row) => row.exploration),
    false,
  );
  await store(
    'fraud-even-policy',
    unbiased.filter((row) => !row.exploration),
    false,
  );
});

describe('evaluate: exploration against policy traffic', () => {
  it('gives each side the suite it would get as a cohort of its own, and no warning when they agree', async () => {
    const document = await evaluateCohort(testDb.db, cohort('fraud-even'), definitions['fraud-even']!, AS_OF);
    const exploration = await evaluateCohort(testDb.db, cohort('fraud-even-exploration'), definitions['fraud-even-exploration']!, AS_OF);
    const policy = await evaluateCohort(testDb.db, cohort('fraud-even-policy'), definitions['fraud-even-policy']!, AS_OF);
    expectClose(document.traffic!.exploration, exploration.overall, 'exploration');
    expectClose(document.traffic!.policy, policy.overall, 'policy');
    expect(document.traffic!.comparison.map((c) => [c.metric, c.differs])).toEqual([
      ['base_rate', false],
      ['roc_auc', false],
    ]);
    expect(document.traffic!.selection_bias_warning).toBeNull();
    // The rest of the document is what it always was: the overall suite and the slices over every prediction.
    expect(document.overall.n).toBe(3000);
    expect(document.slices.map((s) => s.n)).toEqual([3000]);
  });

  it('warns of selection bias when the policy hides its positives', async () => {
    const document = await evaluateCohort(testDb.db, cohort('fraud-blocked'), definitions['fraud-blocked']!, AS_OF);
    const differing = document.traffic!.comparison.filter((c) => c.differs).map((c) => c.metric);
    expect(differing).toContain('base_rate');
    expect(document.traffic!.selection_bias_warning).toMatch(
      /^selection bias: exploration and policy traffic differ beyond their 95% intervals on base_rate/,
    );
  });

  it('has no traffic block for a cohort without exploration traffic', async () => {
    const document = await evaluateCohort(testDb.db, cohort('fraud-even-policy'), definitions['fraud-even-policy']!, AS_OF);
    expect(document.traffic).toBeNull();
  });
});

describe('evaluate --propensity-weighted', () => {
  it("weighs each labeled prediction by 1/propensity: base rate with its interval, and scikit-learn's weighted roc_auc_score", async () => {
    const document = await evaluateCohort(testDb.db, cohort('weighted'), definitions.weighted!, AS_OF, { propensityWeighted: true });
    const result = document.propensity_weighted!;
    expect(result).toMatchObject({ n_labeled: weighted.score.length + 1, n_weighted: weighted.score.length, n_without_propensity: 1 });
    for (const key of ['value', 'ci_low', 'ci_high'] as const)
      expect(Math.abs(result.base_rate[key]! - weighted.expected.base_rate[key])).toBeLessThan(1e-12);
    expect(Math.abs(result.roc_auc! - weighted.expected.roc_auc)).toBeLessThan(1e-12);
    expect(Math.abs(result.effective_sample_size! - weighted.expected.effective_sample_size)).toBeLessThan(1e-9);
    expect((await evaluateCohort(testDb.db, cohort('weighted'), definitions.weighted!, AS_OF)).propensity_weighted).toBeUndefined();
  });
});
