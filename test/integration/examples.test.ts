import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCohort } from '../../activities/evaluate/cohorts';
import type { FraudWeekTruth } from '../../examples/fraud/generate';
import type { RecommendationsTruth } from '../../examples/recommendations/generate';
import type { ReturnsTruth } from '../../examples/returns/generate';
import { cohortIdFor } from '../../contracts/cohort';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';

const testDb = useTestDatabase();
const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const DAY = 86_400_000;
const examples = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

async function hindsight(args: string[]): Promise<any> {
  const run = await runHindsightInProcess([...args, '--json'], { DATABASE_URL: testDb.url });
  expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout);
}

/** Stores an example's label definition, runs its generator from dist/ (as its README does) and ingests what it wrote. */
async function generateAndIngest(name: string): Promise<string> {
  await hindsight(['label-definition', 'put', path.join(EXAMPLES, name, 'label-definition.json')]);
  const dir = await mkdtemp(path.join(os.tmpdir(), `hindsight-${name}-`));
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'examples', name, 'generate.js'), dir]);
  await hindsight(['ingest', 'predictions', path.join(dir, 'predictions.ndjson')]);
  await hindsight(['ingest', 'outcomes', path.join(dir, 'outcomes.ndjson')]);
  // Freshly loaded partitions have no planner statistics until autovacuum comes by.
  await testDb.db.raw('analyze');
  return dir;
}

const plus = (iso: string, days: number) => new Date(Date.parse(iso) + days * DAY).toISOString();

describe('the examples’ label definitions and policies', () => {
  it('every example has a label definition, a policy, a generator and a README', () => {
    expect(examples).toEqual(expect.arrayContaining(['credit', 'fraud', 'recommendations', 'returns']));
    for (const name of examples) {
      for (const file of ['label-definition.json', 'policy.json', 'generate.ts', 'README.md'])
        expect(existsSync(path.join(EXAMPLES, name, file)), `${name}/${file}`).toBe(true);
    }
  });

  it('each is stored by label-definition put and policy put, and putting it again changes nothing', async () => {
    for (const name of examples) {
      for (const outcome of ['created', 'unchanged']) {
        expect((await hindsight(['label-definition', 'put', path.join(EXAMPLES, name, 'label-definition.json')])).outcome, name).toBe(
          outcome,
        );
        expect((await hindsight(['policy', 'put', path.join(EXAMPLES, name, 'policy.json')])).outcome, name).toBe(outcome);
      }
    }
  });
});

describe('the fraud example: a drift week and a labeling-outage week', () => {
  let weeks: FraudWeekTruth[];
  const cohortId = (week: FraudWeekTruth) =>
    cohortIdFor(
      { model_name: 'fraud-model', model_version: '3.2.0', environment: 'production', start: week.start, end: week.end },
      { name: 'fraud-chargeback-90d', version: 1 },
    );
  const evaluate = (week: FraudWeekTruth, days: number) =>
    hindsight([
      'evaluate',
      '--model',
      'fraud-model',
      '--version',
      '3.2.0',
      '--environment',
      'production',
      '--from',
      week.start,
      '--to',
      week.end,
      '--label-definition',
      'fraud-chargeback-90d',
      '--as-of',
      plus(week.end, days),
    ]);
  const diagnose = (week: FraudWeekTruth, days: number) =>
    hindsight(['diagnose', '--cohort', cohortId(week), '--as-of', plus(week.end, days)]);

  beforeAll(async () => {
    const dir = await generateAndIngest('fraud');
    weeks = JSON.parse(await readFile(path.join(dir, 'truth.json'), 'utf8')).weeks;
    // The weekly cohorts a schedule would open: diagnose's expected label curve comes from the finalized ones.
    for (const week of weeks) {
      await registerCohort(testDb.db, {
        cohort_id: cohortId(week),
        model_name: 'fraud-model',
        model_version: '3.2.0',
        environment: 'production',
        start: week.start,
        end: week.end,
        label_definition_name: 'fraud-chargeback-90d',
        label_definition_version: 1,
      });
    }
  });

  it('writes 13 weeks, the drift in week 6 and the outage in week 10, with the model worse only in the drift week', () => {
    expect(weeks.map((w) => w.condition)).toEqual([
      'normal',
      'normal',
      'normal',
      'normal',
      'normal',
      'normal',
      'drift',
      'normal',
      'normal',
      'normal',
      'outage',
      'normal',
      'normal',
    ]);
    expect(weeks[6]!.recall).toBeLessThan(0.8 * weeks[5]!.recall);
    expect(Math.abs(weeks[10]!.recall - weeks[9]!.recall)).toBeLessThan(0.05);
  });

  it('the drift week: recall at P30D falls by more than the policy’s 20% against the week before, and diagnose says quality', async () => {
    const [baseline, drift] = [await evaluate(weeks[5]!, 30), await evaluate(weeks[6]!, 30)];
    expect(drift.overall.recall).toBeLessThan(0.8 * baseline.overall.recall);
    expect(Math.abs(drift.overall.label_availability - baseline.overall.label_availability)).toBeLessThan(0.02);
    expect((await diagnose(weeks[6]!, 30)).verdict).toBe('quality');
  });

  it('the outage week: diagnose says labeling at P30D, and at the final moment half the US labels are missing', async () => {
    expect((await diagnose(weeks[10]!, 30)).verdict).toBe('labeling');
    const [baseline, outage] = [await evaluate(weeks[9]!, 90), await evaluate(weeks[10]!, 90)];
    expect(outage.overall.label_availability).toBeLessThan(baseline.overall.label_availability - 0.2);
    expect(outage.overall.recall).toBeLessThan(0.8 * baseline.overall.recall);
    expect((await diagnose(weeks[10]!, 90)).verdict).toBe('labeling');
  });

  it('hindsight estimate per week against the first five: the outage week is in its band where the labels fall out of it; the drift week, which the scores do not see, is not', async () => {
    const document = await hindsight([
      'estimate',
      '--model',
      'fraud-model',
      '--version',
      '3.2.0',
      '--environment',
      'production',
      '--label-definition',
      'fraud-chargeback-90d',
      '--from',
      weeks[5]!.start,
      '--to',
      weeks[12]!.end,
      '--every',
      'P7D',
      '--reference-from',
      weeks[0]!.start,
      '--reference-to',
      weeks[5]!.start,
      '--as-of',
      plus(weeks[12]!.end, 90),
    ]);
    expect(document.reference).toMatchObject({ calibration: 'isotonic', chunks: 5 });
    const chunk = (week: FraudWeekTruth) => document.chunks.find((c: any) => Date.parse(c.from) === Date.parse(week.start));
    const [normal, drift, outage] = [chunk(weeks[5]!), chunk(weeks[6]!), chunk(weeks[10]!)];
    const [low, high] = outage.band.recall;
    // The outage: half the labels missing drag the realized recall under the band; the
    // scores, and so the estimate, are those of an ordinary week.
    expect(outage.realized.recall).toBeLessThan(low);
    expect(outage.estimated.recall).toBeGreaterThanOrEqual(low);
    expect(outage.estimated.recall).toBeLessThanOrEqual(high);
    expect(outage.outside_band).not.toContain('recall');
    // The drift: a fraud the scores miss lowers the realized recall, never the estimate.
    expect(drift.realized.recall).toBeLessThan(low);
    expect(Math.abs(drift.estimated.recall - normal.estimated.recall)).toBeLessThan(0.02);
  });

  it('late chargebacks revise the final number: more labels at the end of the grace than at the final moment', async () => {
    const [final, late] = [await evaluate(weeks[0]!, 90), await evaluate(weeks[0]!, 120)];
    expect(late.overall.n_labeled).toBeGreaterThan(final.overall.n_labeled);
  });
});

describe('the returns example: a 45-day window joined on the order id', () => {
  let truth: ReturnsTruth;
  const evaluate = (asOf: string) =>
    hindsight([
      'evaluate',
      '--model',
      'returns-model',
      '--version',
      '1.2.0',
      '--environment',
      'production',
      '--from',
      truth.cohort.start,
      '--to',
      truth.cohort.end,
      '--label-definition',
      'return-45d',
      '--as-of',
      asOf,
    ]);

  beforeAll(async () => {
    const dir = await generateAndIngest('returns');
    truth = JSON.parse(await readFile(path.join(dir, 'truth.json'), 'utf8'));
  });

  it('after the grace the return rate equals the truth within 45 days, overall and per category, every return joined by order id', async () => {
    const document = await evaluate(plus(truth.cohort.end, 60));
    expect(document.overall.n_final).toBe(truth.orders);
    expect(document.overall.base_rate).toBeCloseTo(truth.return_rate, 12);
    for (const [category, expected] of Object.entries(truth.by_category)) {
      const slice = document.slices.find((s: any) => s.dimension === 'segment.category' && s.value === category);
      expect(slice.n).toBe(expected.orders);
      expect(slice.base_rate).toBeCloseTo(expected.return_rate, 12);
    }
    expect(document.join.by_entity_window).toBe(document.overall.n_positive);
  });

  it('returns initiated after the window are counted outside it, and late reports revise the final number', async () => {
    expect((await evaluate('2027-06-01T00:00:00Z')).join.outside_window).toBe(truth.returns_after_window);
    const [final, late] = [await evaluate(plus(truth.cohort.end, 45)), await evaluate(plus(truth.cohort.end, 60))];
    expect(final.overall.n_positive).toBeLessThan(late.overall.n_positive);
    expect((await evaluate(plus(truth.cohort.end, 14))).overall.base_rate).toBeLessThan(0.5 * final.overall.base_rate);
  });
});

describe('the recommendations example: the new ranker’s click-through rate from the old one’s logs', () => {
  let truth: RecommendationsTruth;
  let document: any;

  beforeAll(async () => {
    const dir = await generateAndIngest('recommendations');
    truth = JSON.parse(await readFile(path.join(dir, 'truth.json'), 'utf8'));
    document = await hindsight([
      'ope',
      '--model',
      'recs-ranker',
      '--version',
      '4.1.0',
      '--environment',
      'production',
      '--from',
      truth.cohort.start,
      '--to',
      truth.cohort.end,
      '--label-definition',
      'recs-purchase-7d',
      '--as-of',
      plus(truth.cohort.end, 8),
      '--reward',
      'click',
      '--target-policy',
      path.join(dir, 'target-policy.ndjson'),
    ]);
  });

  it('the IPW and SNIPS intervals cover the new ranker’s true click-through rate', () => {
    expect(document.n).toBe(truth.sessions);
    for (const name of ['ipw', 'snips']) {
      expect(document.estimators[name].ci_low, name).toBeLessThanOrEqual(truth.target_policy_ctr);
      expect(document.estimators[name].ci_high, name).toBeGreaterThanOrEqual(truth.target_policy_ctr);
    }
  });

  it('the logged click-through rate is the old ranker’s, not the new one’s', () => {
    expect(Math.abs(document.logged_policy_value - truth.logged_policy_ctr)).toBeLessThan(0.01);
    expect(truth.target_policy_ctr - document.logged_policy_value).toBeGreaterThan(0.02);
    expect(Math.abs(document.estimators.snips.value - truth.target_policy_ctr)).toBeLessThan(
      Math.abs(document.logged_policy_value - truth.target_policy_ctr),
    );
  });
});
