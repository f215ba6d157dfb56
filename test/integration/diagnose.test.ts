import { beforeAll, describe, expect, it } from 'vitest';
import { baselineFor, diagnoseCohort, type Diagnosis, type Verdict } from '../../activities/diagnose/diagnose';
import { useTestDatabase } from '../support/database';
import { FAST_FEEDS, storeChallenge, type StoredChallenge, type WeekPlan } from '../support/mini-challenge';
import { runHindsightInProcess } from '../support/run-cli';

const testDb = useTestDatabase();

/**
 * The mini challenge in four variants, each its own model with the same history: three
 * finalized weeks (the last one the baseline) and the week under diagnosis, judged 35 days
 * after its end (the baseline 35 days after its own).
 */
const WEEKS = ['2026-01-05', '2026-01-12', '2026-01-19'].map((day) => `${day}T00:00:00Z`);
const CURRENT = '2026-01-26T00:00:00Z';
const AS_OF = '2026-03-09T00:00:00Z';
const N = 5000;
/** The us review feed stops receiving on Feb 1 and is still down at the as-of. */
const STALL = { region: 'us', from: '2026-02-02T06:00:00Z', until: '2026-03-20T00:00:00Z' };

const VARIANTS: Record<Verdict, WeekPlan> = {
  labeling: { start: CURRENT, n: N, stall: STALL },
  quality: { start: CURRENT, n: N, unseen_fraud: 0.04 },
  both: { start: CURRENT, n: N, scores: 'blunt', stall: STALL },
  none: { start: CURRENT, n: N },
};

const challenges = {} as Record<Verdict, StoredChallenge>;
const diagnoses = {} as Record<Verdict, Diagnosis>;

beforeAll(async () => {
  for (const [verdict, plan] of Object.entries(VARIANTS) as Array<[Verdict, WeekPlan]>) {
    const world = { model_name: `fraud-${verdict}`, model_version: 'v1', ...FAST_FEEDS };
    const challenge = await storeChallenge(testDb.db, world, [...WEEKS.map((start) => ({ start, n: N })), plan], 11);
    challenges[verdict] = challenge;
    const cohort = challenge.weeks[WEEKS.length]!.cohort;
    diagnoses[verdict] = await diagnoseCohort(testDb.db, {
      cohort,
      definition: challenge.definition,
      asOf: AS_OF,
      ...baselineFor(cohort, AS_OF),
    });
  }
});

const check = (diagnosis: Diagnosis, name: string) => {
  const found = diagnosis.checks.find((c) => c.name === name);
  expect(found, name).toBeDefined();
  return found!;
};

type Evidence = Record<string, any>;
const evidence = (diagnosis: Diagnosis, name: string) => check(diagnosis, name).evidence as Evidence;
const signals = (diagnosis: Diagnosis) => Object.fromEntries(diagnosis.checks.map((c) => [c.name, c.signal]));
const availability = (diagnosis: Diagnosis, value: string | null) =>
  (evidence(diagnosis, 'label_availability').groups as Evidence[]).find((g) => (value === null ? g.dimension === '' : g.value === value))!;

describe('diagnoseCohort on the mini challenge', () => {
  it('runs every check on every variant, each with a finding and its numbers', () => {
    for (const diagnosis of Object.values(diagnoses)) {
      expect(diagnosis.checks.map((c) => c.name)).toEqual([
        'label_availability',
        'label_availability_expected',
        'metric_at_equal_maturity',
        'metric_on_comparable_slices',
        'label_latency',
        'slice_mix',
        'score_distribution',
        'estimated_performance',
      ]);
      for (const c of diagnosis.checks) {
        expect(c.finding.length).toBeGreaterThan(20);
        expect(Object.keys(c.evidence).length).toBeGreaterThan(0);
      }
      expect(diagnosis.baseline).toEqual({ ...challenges.none.weeks[2]!.cohort, model_name: diagnosis.cohort.model_name });
      expect(diagnosis.baseline_as_of).toBe('2026-03-02T00:00:00.000Z');
    }
  });

  it('poses the question: availability 92% → about 70% and labelled recall down about 15%, the model unchanged', () => {
    const diagnosis = diagnoses.labeling;
    const overall = availability(diagnosis, null).availability;
    expect(overall.baseline).toBeGreaterThan(0.9);
    expect(overall.current).toBeGreaterThan(0.66);
    expect(overall.current).toBeLessThan(0.76);
    const recall = evidence(diagnosis, 'metric_at_equal_maturity').recall;
    expect(recall.difference / recall.baseline).toBeLessThan(-0.1);
    expect(recall.difference / recall.baseline).toBeGreaterThan(-0.2);
    expect(recall.ci_high).toBeLessThan(0);
    expect(evidence(diagnosis, 'score_distribution').psi).toBeLessThan(0.1);
  });

  it('blames the labels for a stalled review feed: availability fell in one region, the metric holds where labels did not change, the scores expect no fall', () => {
    const diagnosis = diagnoses.labeling;
    expect(diagnosis.verdict).toBe('labeling');
    expect(signals(diagnosis)).toMatchObject({
      label_availability: 'labeling',
      label_availability_expected: 'labeling',
      metric_on_comparable_slices: null,
      estimated_performance: null,
    });
    expect(availability(diagnosis, 'us').changed).toBe(true);
    expect(availability(diagnosis, 'us').availability.current).toBeLessThan(0.6);
    expect(availability(diagnosis, 'eu').changed).toBe(false);
    const subset = evidence(diagnosis, 'metric_on_comparable_slices').subsets[0];
    expect(subset).toMatchObject({ dimension: 'region', kept: ['eu'], excluded: ['us'], recall_fell: false });
    const expected = (evidence(diagnosis, 'label_availability_expected').groups as Evidence[]).find((g) => g.value === 'us')!;
    expect(expected.short).toBe(true);
  });

  it('blames the model for frauds it does not see, with full labels: the metric falls on every slice; the scores cannot tell', () => {
    const diagnosis = diagnoses.quality;
    expect(diagnosis.verdict).toBe('quality');
    expect(signals(diagnosis)).toMatchObject({
      label_availability: null,
      label_availability_expected: null,
      metric_on_comparable_slices: 'quality',
      estimated_performance: null,
    });
    const subset = evidence(diagnosis, 'metric_on_comparable_slices').subsets[0];
    expect(subset).toMatchObject({ kept: ['us', 'eu'], excluded: [], recall_fell: true });
    expect(subset.recall.ci_high).toBeLessThan(0);
    // more positives than the scores expect: the finding says what the estimate cannot see
    expect(check(diagnosis, 'label_availability_expected').finding).toMatch(/more positives than the scores expect/);
  });

  it('blames both when a blunter model meets the stalled feed', () => {
    const diagnosis = diagnoses.both;
    expect(diagnosis.verdict).toBe('both');
    expect(signals(diagnosis)).toMatchObject({
      label_availability: 'labeling',
      metric_on_comparable_slices: 'quality',
      estimated_performance: 'quality',
    });
    expect(evidence(diagnosis, 'metric_on_comparable_slices').subsets[0]).toMatchObject({
      kept: ['eu'],
      excluded: ['us'],
      recall_fell: true,
    });
    expect(evidence(diagnosis, 'estimated_performance').overall.recall.fell).toBe(true);
    expect(evidence(diagnosis, 'score_distribution').psi).toBeGreaterThan(0.1);
  });

  it('finds nothing in an unchanged week', () => {
    const diagnosis = diagnoses.none;
    expect(diagnosis.verdict).toBe('none');
    expect(diagnosis.checks.every((c) => c.signal === null)).toBe(true);
  });
});

describe('hindsight diagnose', () => {
  const env = () => ({ DATABASE_URL: testDb.url });
  const current = (verdict: Verdict) => challenges[verdict].weeks[WEEKS.length]!;

  it('diagnoses a registered cohort by id, against the previous period by default (--json)', async () => {
    const run = await runHindsightInProcess(['diagnose', '--cohort', current('labeling').cohort_id, '--as-of', AS_OF, '--json'], env());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as Diagnosis;
    // the same diagnosis (sums of floats may differ in their last bits between runs)
    const summary = (d: Diagnosis) => ({ ...d, checks: d.checks.map((c) => ({ name: c.name, signal: c.signal, finding: c.finding })) });
    expect(summary(document)).toEqual(summary(diagnoses.labeling));
  });

  it('takes the cohort flags and prints the verdict first, then one line per check', async () => {
    const week = current('quality').cohort;
    const run = await runHindsightInProcess(
      [
        'diagnose',
        '--model',
        week.model_name,
        '--version',
        'v1',
        '--from',
        week.start,
        '--to',
        week.end,
        '--label-definition',
        challenges.quality.definition.name,
        '--as-of',
        AS_OF,
      ],
      env(),
    );
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('verdict: quality');
    expect(lines.filter((line) => /^[LQ ] [a-z_]+: /.test(line))).toHaveLength(8);
    expect(lines.find((line) => line.startsWith('Q metric_on_comparable_slices: '))).toBeDefined();
  });

  it('takes --threshold as the relative fall that counts: above every fall, the model is no longer blamed', async () => {
    // By default (5%) the blunter model's estimated recall fell: 'both'.
    expect(evidence(diagnoses.both, 'estimated_performance').overall.recall.fell).toBe(true);
    const args = ['diagnose', '--cohort', current('both').cohort_id, '--as-of', AS_OF, '--json'];
    const above = JSON.parse((await runHindsightInProcess([...args, '--threshold', '0.99'], env())).stdout) as Diagnosis;
    expect(signals(above)).toMatchObject({
      estimated_performance: null,
      metric_on_comparable_slices: null,
      label_availability: 'labeling',
    });
    expect(above.verdict).toBe('labeling');
    expect(evidence(above, 'metric_on_comparable_slices').minimum_relative_drop).toBe(0.99);
    expect(evidence(above, 'estimated_performance').minimum_relative_drop).toBe(0.99);
    const refused = await runHindsightInProcess([...args, '--threshold', '5'], env());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--threshold: must be a share below 1, e.g. 0.1 for a 10% fall');
  });

  it('compares with an explicit baseline, judged at the same maturity', async () => {
    const baseline = challenges.none.weeks[1]!;
    const run = await runHindsightInProcess(
      ['diagnose', '--cohort', current('none').cohort_id, '--baseline', baseline.cohort_id, '--as-of', AS_OF, '--json'],
      env(),
    );
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as Diagnosis;
    expect(document.baseline.start).toBe(baseline.cohort.start);
    // the baseline ends two weeks before the cohort, so it is judged two weeks earlier: 35 days after its end
    expect(document.baseline_as_of).toBe('2026-02-23T00:00:00.000Z');
  });

  it('refuses to run without a cohort, with both ways of naming one, or with half a baseline range (exit 2)', async () => {
    const week = current('none').cohort;
    for (const args of [
      ['diagnose', '--json'],
      ['diagnose', '--cohort', current('none').cohort_id, '--model', 'fraud-none'],
      [
        'diagnose',
        '--model',
        'fraud-none',
        '--version',
        'v1',
        '--from',
        week.start,
        '--to',
        week.end,
        '--label-definition',
        'fraud-none-fraud',
        '--baseline-from',
        WEEKS[0]!,
      ],
    ]) {
      const run = await runHindsightInProcess(args, env());
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/diagnose: invalid options/);
    }
  });

  it('says so when the cohort has no predictions or is not registered (exit 2)', async () => {
    const empty = await runHindsightInProcess(
      [
        'diagnose',
        '--model',
        'fraud-none',
        '--version',
        'v1',
        '--from',
        '2027-01-04T00:00:00Z',
        '--to',
        '2027-01-11T00:00:00Z',
        '--label-definition',
        'fraud-none-fraud',
        '--as-of',
        '2027-02-15T00:00:00Z',
      ],
      env(),
    );
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(
      /the cohort fraud-none v1 \[2027-01-04T00:00:00.000Z, 2027-01-11T00:00:00.000Z\) has no predictions to diagnose/,
    );
    const unknown = await runHindsightInProcess(['diagnose', '--cohort', 'cohort/nope', '--json'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/cohort cohort\/nope is not registered/);
  });

  it('refuses an --as-of before the cohort starts (exit 2) instead of a verdict that looks real', async () => {
    const cohort = current('none');
    const early = new Date(Date.parse(CURRENT) - 86_400_000).toISOString();
    const run = await runHindsightInProcess(['diagnose', '--cohort', cohort.cohort_id, '--as-of', early], env());
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`diagnose: --as-of ${early} is before the cohort's start ${new Date(cohort.cohort.start).toISOString()}`);
  });
});
