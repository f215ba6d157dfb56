import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { useTestDatabase } from '../support/database';
import { runHindsight, runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

interface Case {
  name: string;
  actions: string[];
  action: number[];
  propensity: number[];
  reward: number[];
  action_dist: number[][];
  q_hat: number[][];
  clip: number | null;
  expected: { estimators: Record<string, { value: number }>; n: number; effective_sample_size: number; logged_policy_value: number };
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'off-policy', 'off-policy.json'), 'utf8')) as {
  cases: Case[];
};
const [logged, clipped] = fixture.cases as [Case, Case];

const testDb = useTestDatabase();
const HOUR = 3_600_000;
const T = Date.parse('2026-06-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const COHORT = ['--version', 'v1', '--from', iso(T), '--to', iso(T + 24 * HOUR), '--as-of', iso(T + 30 * 24 * HOUR)];
const ids = logged.action.map(() => randomUUID());
const withoutPropensity = randomUUID();
let dir: string;

/** The hand-checkable two-action log of the built-in targets (docs/off-policy.md works it through). */
const RULE_LOG = [
  { score: 0.2, action: 'approve', propensity: 1, is_exploration: false, defaulted: false },
  { score: 0.6, action: 'deny', propensity: 0.5, is_exploration: true, defaulted: false },
  { score: 0.6, action: 'approve', propensity: 0.5, is_exploration: true, defaulted: true },
  { score: 0.9, action: 'deny', propensity: 1, is_exploration: false, defaulted: false },
  { score: 0.3, action: 'approve', propensity: 1, is_exploration: false, defaulted: true },
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-ope-'));
  // The fixture's rounds as recommendations: each prediction logs its action and propensity,
  // a click (valued at the round index + 1) when the reward is 1, and one prediction has no propensity.
  await storeRows(testDb.db, 'predictions', [
    ...ids.map((prediction_id, i) => ({
      prediction_id,
      model_name: 'recs',
      model_version: 'v1',
      ts_pred: iso(T + i * 60_000),
      score: 0.5,
      entity_ids: {},
      segment: {},
      action: logged.actions[logged.action[i]!],
      propensity: logged.propensity[i],
      policy: 'epsilon-greedy(0.3)',
      is_exploration: false,
    })),
    {
      prediction_id: withoutPropensity,
      model_name: 'recs',
      model_version: 'v1',
      ts_pred: iso(T + HOUR),
      score: 0.5,
      entity_ids: {},
      segment: {},
      action: 'a0',
    },
    ...RULE_LOG.map((row, i) => ({
      prediction_id: randomUUID(),
      model_name: 'credit',
      model_version: 'v1',
      ts_pred: iso(T + i * 60_000),
      score: row.score,
      threshold: 0.5,
      entity_ids: { loan_id: `l${i}` },
      segment: {},
      decision: row.action,
      propensity: row.propensity,
      is_exploration: row.is_exploration,
    })),
  ]);
  await storeRows(testDb.db, 'outcomes', [
    ...ids.flatMap((prediction_id, i) =>
      logged.reward[i] === 1
        ? [
            {
              outcome_id: `click-${i}`,
              prediction_id,
              entity_ids: {},
              outcome_type: 'click',
              value: i + 1,
              ts_event: iso(T + i * 60_000 + HOUR),
              ts_received: iso(T + i * 60_000 + HOUR),
            },
          ]
        : [],
    ),
    {
      outcome_id: 'click-late',
      prediction_id: ids[0],
      entity_ids: {},
      outcome_type: 'click',
      value: 100,
      ts_event: iso(T + 10 * 24 * HOUR),
      ts_received: iso(T + 10 * 24 * HOUR),
    },
    ...RULE_LOG.flatMap((row, i) =>
      row.defaulted
        ? [
            {
              outcome_id: `default-${i}`,
              prediction_id: null,
              entity_ids: { loan_id: `l${i}` },
              outcome_type: 'default',
              ts_event: iso(T + 2 * 24 * HOUR),
              ts_received: iso(T + 2 * 24 * HOUR),
            },
          ]
        : [],
    ),
  ]);
  await putLabelDefinition(testDb.db, {
    name: 'clicks',
    version: 1,
    model_name: 'recs',
    task: 'binary',
    window: 'P7D',
    positive_outcome_types: ['click'],
  });
  await putLabelDefinition(testDb.db, {
    name: 'defaults',
    version: 1,
    model_name: 'credit',
    task: 'binary',
    window: 'P7D',
    positive_outcome_types: ['default'],
    entity_key: 'loan_id',
  });
});

async function targetFile(name: string, withRewards: boolean): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(
    file,
    ids
      .map((prediction_id, i) =>
        JSON.stringify({
          prediction_id,
          action_probabilities: Object.fromEntries(logged.actions.map((a, k) => [a, logged.action_dist[i]![k]])),
          ...(withRewards ? { expected_rewards: Object.fromEntries(logged.actions.map((a, k) => [a, logged.q_hat[i]![k]])) } : {}),
        }),
      )
      .join('\n') + '\n',
  );
  return file;
}

const env = () => ({ DATABASE_URL: testDb.url });
const essWarning = (ess: number, n: number) =>
  `the effective sample size is ${Number(ess.toPrecision(4))} of ${n} rounds, under 100: the target policy's weights rest the ` +
  'IPW, SNIPS and DR estimates on a few rounds, so their intervals understate the error';
const near = (a: number, b: number) => Math.abs(a - b) < 1e-12;

describe('hindsight ope', () => {
  it('gives the reference IPW, SNIPS, DM and DR of a target policy file, counting and warning about a prediction without a propensity', async () => {
    const file = await targetFile('target.ndjson', true);
    const run = await runHindsight(
      ['ope', '--model', 'recs', ...COHORT, '--label-definition', 'clicks', '--reward', 'click', '--target-policy', file, '--json'],
      env(),
    );
    expect(run.stderr).toBe(
      'hindsight: ope: warning: 1 predictions of the cohort have an action but no logged propensity; they are left out of every estimate\n' +
        `hindsight: ope: warning: ${essWarning(logged.expected.effective_sample_size, 40)}\n`,
    );
    expect(run.code).toBe(1);
    const document = JSON.parse(run.stdout);
    expect(document).toMatchObject({
      n: 40,
      reward_model: 'target_policy_file',
      excluded: { no_action: 0, no_propensity: 1, no_target_policy: 0 },
      bootstrap: { resamples: 1000, seed: 1, alpha: 0.05 },
      clip: null,
    });
    for (const name of ['ipw', 'snips', 'dm', 'dr']) {
      const estimate = document.estimators[name];
      expect(near(estimate.value, logged.expected.estimators[name]!.value), `${name}: ${estimate.value}`).toBe(true);
      expect(estimate.ci_low).toBeLessThanOrEqual(estimate.value);
      expect(estimate.ci_high).toBeGreaterThanOrEqual(estimate.value);
    }
    expect(near(document.effective_sample_size, logged.expected.effective_sample_size)).toBe(true);
    expect(near(document.logged_policy_value, logged.expected.logged_policy_value)).toBe(true);
    // Seeded: the same command prints the same intervals. The file gains a line for a prediction
    // outside the cohort whose id is 8-4-4-4-12 hex but not RFC 4122 (version nibble 0, variant
    // bits 0), upper case: the id rule of ingest, so it is read, and it changes nothing.
    const extended = path.join(dir, 'target-extended.ndjson');
    const foreign = {
      prediction_id: 'ABCDEF01-2345-0789-0BCD-EF0123456789',
      action_probabilities: { [logged.actions[0]!]: 1 },
      expected_rewards: { [logged.actions[0]!]: 0.5 },
    };
    await writeFile(extended, `${readFileSync(file, 'utf8')}${JSON.stringify(foreign)}\n`);
    const again = await runHindsightInProcess(
      ['ope', '--model', 'recs', ...COHORT, '--label-definition', 'clicks', '--reward', 'click', '--target-policy', extended, '--json'],
      env(),
    );
    expect(again.stderr).toBe(run.stderr);
    expect(again.code).toBe(run.code);
    expect(JSON.parse(again.stdout).estimators).toEqual(document.estimators);
  });

  it('clips IPW and DR at --clip as the reference does', async () => {
    const file = await targetFile('target.ndjson', true);
    const run = await runHindsightInProcess(
      [
        'ope',
        '--model',
        'recs',
        ...COHORT,
        '--label-definition',
        'clicks',
        '--reward',
        'click',
        '--target-policy',
        file,
        '--clip',
        String(clipped.clip),
        '--json',
      ],
      env(),
    );
    const document = JSON.parse(run.stdout);
    for (const name of ['ipw', 'dr'])
      expect(near(document.estimators[name].value, clipped.expected.estimators[name]!.value), name).toBe(true);
    expect(document.clip).toBe(clipped.clip);
  });

  it('fits the per-action mean reward model when the file has no expected_rewards, and says so', async () => {
    const file = await targetFile('target-no-rewards.ndjson', false);
    const document = JSON.parse(
      (
        await runHindsightInProcess(
          ['ope', '--model', 'recs', ...COHORT, '--label-definition', 'clicks', '--reward', 'click', '--target-policy', file, '--json'],
          env(),
        )
      ).stdout,
    );
    expect(document.reward_model).toBe('per_action_mean');
    const q = logged.actions.map((_, k) => {
      const rewards = logged.reward.filter((_, i) => logged.action[i] === k);
      return rewards.reduce((s, r) => s + r, 0) / rewards.length;
    });
    const direct = logged.action_dist.map((dist) => dist.reduce((s, p, k) => s + p * q[k]!, 0));
    const dm = direct.reduce((s, d) => s + d, 0) / direct.length;
    const correction =
      logged.action.reduce((s, a, i) => s + (logged.action_dist[i]![a]! / logged.propensity[i]!) * (logged.reward[i]! - q[a]!), 0) /
      logged.action.length;
    expect(near(document.estimators.dm.value, dm)).toBe(true);
    expect(near(document.estimators.dr.value, dm + correction)).toBe(true);
    expect(near(document.estimators.ipw.value, logged.expected.estimators.ipw!.value)).toBe(true);
  });

  it("takes the joined outcome's value as the reward with --reward-value, within the window only", async () => {
    const file = await targetFile('target.ndjson', true);
    const document = JSON.parse(
      (
        await runHindsightInProcess(
          [
            'ope',
            '--model',
            'recs',
            ...COHORT,
            '--label-definition',
            'clicks',
            '--reward',
            'click',
            '--reward-value',
            '--target-policy',
            file,
            '--json',
          ],
          env(),
        )
      ).stdout,
    );
    const values = logged.reward.map((r, i) => (r === 1 ? i + 1 : 0));
    expect(document.reward.kind).toBe('value');
    expect(near(document.logged_policy_value, values.reduce((s, v) => s + v, 0) / values.length)).toBe(true);
  });

  it('estimates the logged decision rule at another threshold (--target greedy) and with exploration (epsilon-greedy:E)', async () => {
    const args = [
      'ope',
      '--model',
      'credit',
      ...COHORT,
      '--label-definition',
      'defaults',
      '--reward',
      'default',
      '--threshold',
      '0.7',
      '--json',
    ];
    const greedy = await runHindsightInProcess([...args, '--target', 'greedy'], env());
    const document = JSON.parse(greedy.stdout);
    // Five rounds: too few to trust, said on stderr; a warning alone does not change the exit code.
    expect(greedy.stderr).toBe(`hindsight: ope: warning: ${essWarning(document.effective_sample_size, 5)}\n`);
    expect(greedy.code).toBe(0);
    // w = [1, 0, 2, 1, 1], r = [0, 0, 1, 0, 1]; q̂(approve) = 2/3, q̂(deny) = 0.
    expect(document.target_policy).toEqual({ kind: 'greedy', threshold: 0.7, actions: { above: 'deny', below: 'approve' } });
    expect(near(document.estimators.ipw.value, 0.6)).toBe(true);
    expect(near(document.estimators.snips.value, 0.6)).toBe(true);
    expect(near(document.estimators.dm.value, 8 / 15)).toBe(true);
    expect(near(document.estimators.dr.value, 0.6)).toBe(true);
    expect(near(document.effective_sample_size, 25 / 7)).toBe(true);
    // π_e = 0.8 on the greedy action + 0.1 on each: w = [0.9, 0.2, 1.8, 0.9, 0.9].
    const explored = JSON.parse((await runHindsightInProcess([...args, '--target', 'epsilon-greedy:0.2'], env())).stdout);
    expect(near(explored.estimators.ipw.value, (1.8 + 0.9) / 5)).toBe(true);
  });

  it('refuses a bad target policy line naming the file, line and field, and a greedy target on a many-action log', async () => {
    const file = path.join(dir, 'bad.ndjson');
    await writeFile(
      file,
      `${JSON.stringify({ prediction_id: ids[0], action_probabilities: { a0: 1 } })}\n${JSON.stringify({ prediction_id: ids[1], action_probabilities: { a0: 0.5, a1: 0.2 } })}\n`,
    );
    const bad = await runHindsightInProcess(
      ['ope', '--model', 'recs', ...COHORT, '--label-definition', 'clicks', '--reward', 'click', '--target-policy', file, '--json'],
      env(),
    );
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe(`hindsight: ${file} line 2: action_probabilities: must sum to 1, sums to 0.7\n`);
    const greedy = await runHindsightInProcess(
      ['ope', '--model', 'recs', ...COHORT, '--label-definition', 'clicks', '--reward', 'click', '--target', 'greedy', '--json'],
      env(),
    );
    expect(greedy.code).toBe(2);
    expect(greedy.stderr).toMatch(
      /the built-in greedy targets need a log of two actions decided by a threshold \(one at or above it, the other below\); this cohort logs 3 action\(s\) \(a0, a1, a2\)/,
    );
  });
});

describe('ingesting propensities', () => {
  it('rejects a propensity of 0 or above 1 with its line number and keeps the good lines', async () => {
    const file = path.join(dir, 'propensities.ndjson');
    const line = (propensity: number) =>
      JSON.stringify({
        prediction_id: randomUUID(),
        model_name: 'recs',
        model_version: 'v2',
        ts_pred: iso(T),
        score: 0.4,
        action: 'a1',
        propensity,
      });
    await writeFile(file, [line(0.25), line(0), line(1.5), line(1)].join('\n') + '\n');
    const run = await runHindsightInProcess(['ingest', 'predictions', file, '--json'], env());
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result.accepted).toBe(2);
    expect(result.rejected.map((r: { line: number; field: string }) => [r.line, r.field])).toEqual([
      [2, 'propensity'],
      [3, 'propensity'],
    ]);
    expect(Number((await testDb.db('predictions').where({ model_version: 'v2' }).count('* as n'))[0]!.n)).toBe(2);
  });

  it('warns when the target policy weighs actions never logged and an estimate leaves the rewards range; --strict exits 2', async () => {
    // 90% on the logged action (q̂ 0), 10% on an action no round logged (q̂ 20): DM = 2, DR = 2 + IPW = 2.9.
    const file = path.join(dir, 'unlogged.ndjson');
    await writeFile(
      file,
      ids
        .map((prediction_id, i) => {
          const action = logged.actions[logged.action[i]!]!;
          return JSON.stringify({
            prediction_id,
            action_probabilities: { [action]: 0.9, 'never-shown': 0.1 },
            expected_rewards: { [action]: 0, 'never-shown': 20 },
          });
        })
        .join('\n') + '\n',
    );
    const args = ['ope', '--model', 'recs', ...COHORT, '--label-definition', 'clicks', '--reward', 'click', '--target-policy', file];
    const run = await runHindsightInProcess([...args, '--strict', '--json'], env());
    expect(run.code).toBe(2);
    const document = JSON.parse(run.stdout);
    const weights = logged.propensity.map((p) => 0.9 / p);
    const ess = weights.reduce((a, w) => a + w, 0) ** 2 / weights.reduce((a, w) => a + w * w, 0);
    expect(near(document.unlogged_target_share, 0.1)).toBe(true);
    expect(near(document.max_weight, Math.max(...weights))).toBe(true);
    expect(document.reliability_warnings).toEqual([
      essWarning(ess, 40),
      'the target policy puts weight on actions the log never took (never-shown) in 40 of 40 rounds, 10% of its weight over all rounds: ' +
        'no round says what those actions earn (IPW counts them as earning nothing, SNIPS as earning what the logged ones do, ' +
        'DM and DR take the reward model on trust)',
      'dm 2 lies outside [0, 1], the range of the logged rewards: no policy can earn that, the weights made it',
      'dr 2.9 lies outside [0, 1], the range of the logged rewards: no policy can earn that, the weights made it',
    ]);
    for (const warning of document.reliability_warnings) expect(run.stderr).toContain(`hindsight: ope: warning: ${warning}\n`);
    expect(run.stderr).toContain('hindsight: ope: --strict: the estimates above should not be trusted (4 warning(s))');

    // An --as-of before the cohort's start is refused; one before its end warns that the numbers are partial.
    const early = await runHindsightInProcess(
      [
        'ope',
        '--model',
        'recs',
        ...COHORT.slice(0, -2),
        '--as-of',
        iso(T - HOUR),
        '--label-definition',
        'clicks',
        '--reward',
        'click',
        '--target-policy',
        file,
      ],
      env(),
    );
    expect(early.code).toBe(2);
    expect(early.stderr).toContain(`ope: --as-of ${iso(T - HOUR)} is before the cohort's start ${iso(T)}`);
  });
});

describe('hindsight ope --slate', () => {
  interface SlateCase {
    name: string;
    slate: number[];
    propensity: number[];
    target: number[];
    reward: number[];
    expected: { estimators: Record<string, { value: number }>; n_slates: number; n_rows: number; effective_sample_size: number };
    per_row?: PerRow & { by_position: Array<PerRow & { position: number }> };
  }
  interface PerRow {
    n: number;
    estimators: Record<string, number>;
    effective_sample_size: number;
    max_weight: number;
  }
  const slates = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'off-policy', 'slate.json'), 'utf8')) as {
    cases: SlateCase[];
  };
  const [sum, anyClick] = slates.cases as [SlateCase, SlateCase];
  const slateIds = sum.slate.map(() => randomUUID());
  const at = (c: SlateCase, i: number) => i - c.slate.indexOf(c.slate[i]!) + 1;
  const prediction = (version: string, i: number, extra: Record<string, unknown>) => ({
    prediction_id: randomUUID(),
    model_name: 'ranker',
    model_version: version,
    ts_pred: iso(T + i * 60_000),
    score: 0.5,
    entity_ids: {},
    segment: {},
    action: `i${i % 2}`,
    propensity: 0.5,
    ...extra,
  });
  const SLATE = ['--model', 'ranker', ...COHORT, '--label-definition', 'ranker-clicks', '--reward', 'click', '--json'];
  let slateTarget: string;
  const missingPosition = randomUUID();

  beforeAll(async () => {
    // The fixture's slates as homepage rankings: request r<slate>, positions 1..K, a click where the reward is 1;
    // and two broken logs, one prediction without a position (v-missing) and two at one position (v-twice).
    await storeRows(testDb.db, 'predictions', [
      ...slateIds.map((prediction_id, i) =>
        prediction('v1', i, {
          prediction_id,
          request_id: `r${sum.slate[i]}`,
          position: at(sum, i),
          propensity: sum.propensity[i],
          segment: { half: i < 40 ? 'a' : 'b' },
        }),
      ),
      // Scored so that the built-in greedy target reads a rule off them: i0 at or above 0.5, i1 below.
      prediction('v-missing', 0, { request_id: 'm0', position: 1, score: 0.9, threshold: 0.5 }),
      prediction('v-missing', 1, { prediction_id: missingPosition, request_id: 'm0', score: 0.1, threshold: 0.5 }),
      prediction('v-twice', 0, { request_id: 't0', position: 1, score: 0.9, threshold: 0.5 }),
      prediction('v-twice', 1, { request_id: 't0', position: 1, score: 0.1, threshold: 0.5 }),
      // A ranker that logs no scores (allowed with an action and a position): no threshold rule to read.
      prediction('v-unscored', 0, { request_id: 'u0', position: 1, score: null }),
      // Joint propensities (the whole slate's, 0.25, on each row): two slates of two, and a request whose rows disagree.
      ...[0, 1, 2, 3].map((i) =>
        prediction('v-joint', i, {
          request_id: `j${i >> 1}`,
          position: (i % 2) + 1,
          score: i % 2 ? 0.1 : 0.9,
          threshold: 0.5,
          propensity: 0.25,
        }),
      ),
      ...[0, 1].map((i) =>
        prediction('v-joint-mixed', i, {
          request_id: 'x0',
          position: i + 1,
          score: i ? 0.1 : 0.9,
          threshold: 0.5,
          propensity: i ? 0.5 : 0.25,
        }),
      ),
    ]);
    await storeRows(
      testDb.db,
      'outcomes',
      slateIds.flatMap((prediction_id, i) =>
        sum.reward[i] === 1
          ? [
              {
                outcome_id: `slate-click-${i}`,
                prediction_id,
                entity_ids: {},
                outcome_type: 'click',
                ts_event: iso(T + 3 * HOUR),
                ts_received: iso(T + 3 * HOUR),
              },
            ]
          : [],
      ),
    );
    await putLabelDefinition(testDb.db, {
      name: 'ranker-clicks',
      version: 1,
      model_name: 'ranker',
      task: 'binary',
      window: 'P7D',
      positive_outcome_types: ['click'],
    });
    slateTarget = path.join(dir, 'slate-target.ndjson');
    await writeFile(
      slateTarget,
      slateIds
        .map((prediction_id, i) => {
          const [logged, other] = i % 2 === 0 ? ['i0', 'i1'] : ['i1', 'i0'];
          return JSON.stringify({ prediction_id, action_probabilities: { [logged]: sum.target[i], [other]: 1 - sum.target[i]! } });
        })
        .join('\n') + '\n',
    );
  });

  it('groups a request by position and gives the reference SIPS, IIPS and RIPS, with the slate sum or any-click reward', async () => {
    for (const [c, reward] of [
      [sum, 'sum'],
      [anyClick, 'any'],
    ] as const) {
      const run = await runHindsightInProcess(
        ['ope', ...SLATE, '--target-policy', slateTarget, '--slate', '--slate-reward', reward],
        env(),
      );
      const document = JSON.parse(run.stdout);
      expect(document).toMatchObject({ n_slates: c.expected.n_slates, n_rows: c.expected.n_rows, propensity: 'position' });
      expect(document.reward.slate).toBe(reward);
      for (const name of ['sips', 'iips', 'rips']) {
        const estimate = document.estimators[name];
        expect(Math.abs(estimate.value - c.expected.estimators[name]!.value), `${reward} ${name}: ${estimate.value}`).toBeLessThan(1e-9);
        expect(estimate.ci_low).toBeLessThanOrEqual(estimate.value);
        expect(estimate.ci_high).toBeGreaterThanOrEqual(estimate.value);
      }
      expect(Math.abs(document.effective_sample_size - c.expected.effective_sample_size)).toBeLessThan(1e-9);
      // 30 slates: the effective sample size is under 100, so the run warns, and --strict fails on it.
      expect(run.stderr).toContain('the effective sample size is');
      // The slate weights' effective sample size is SIPS's (and RIPS's at the last position), not IIPS's.
      expect(run.stderr).toContain('SIPS and RIPS estimates on a few slates');
    }
    const strict = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', slateTarget, '--slate', '--strict'], env());
    expect(strict.code).toBe(2);
    // A mistyped reward type: every reward is 0, and the run says why instead of printing zeros alone.
    const typo = SLATE.map((arg) => (arg === 'click' ? 'clik' : arg));
    for (const mode of [['--slate'], ['--by', 'position']]) {
      const zero = await runHindsightInProcess(['ope', ...typo, '--target-policy', slateTarget, ...mode, '--strict'], env());
      expect(zero.code).toBe(2);
      const rows = mode[0] === '--slate' ? 'row' : 'round';
      expect(JSON.parse(zero.stdout).reliability_warnings[0]).toBe(
        `every ${rows}'s reward is 0: no outcome of type clik was received by ${iso(T + 30 * 24 * HOUR)} at all; ` +
          'check --reward (the outcome types as ingested)',
      );
    }
    // Joint propensities: SIPS only (weight 1 / 0.25 per slate under the logged rule), and the warning names it alone.
    const joint = await runHindsightInProcess(
      ['ope', ...SLATE.map((arg) => (arg === 'v1' ? 'v-joint' : arg)), '--target', 'greedy', '--slate', '--slate-propensity', 'joint'],
      env(),
    );
    expect(joint.code).toBe(0);
    const jointDocument = JSON.parse(joint.stdout);
    expect(jointDocument).toMatchObject({ propensity: 'joint', n_slates: 2, n_rows: 4, max_weight: 4, effective_sample_size: 2 });
    expect(jointDocument.estimators.iips).toEqual({ value: null, ci_low: null, ci_high: null });
    expect(jointDocument.estimators.rips).toEqual({ value: null, ci_low: null, ci_high: null });
    expect(joint.stderr).toContain("the target policy's weights rest the SIPS estimates on a few slates");
  });

  it('estimates each position on its own with --by position, q̂ the per action × position mean, beside the overall estimate', async () => {
    const run = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', slateTarget, '--by', 'position'], env());
    const document = JSON.parse(run.stdout);
    expect(document.reward_model).toBe('per_action_position_mean');
    const expected = sum.per_row!;
    const check = (got: Record<string, unknown> & { estimators: Record<string, { value: number }> }, want: PerRow, what: string) => {
      expect(got.n, what).toBe(want.n);
      for (const key of ['effective_sample_size', 'max_weight'] as const)
        expect(Math.abs((got[key] as number) - want[key]), `${what} ${key}`).toBeLessThan(1e-9);
      for (const name of ['ipw', 'snips', 'dm', 'dr'])
        expect(Math.abs(got.estimators[name]!.value - want.estimators[name]!), `${what} ${name}`).toBeLessThan(1e-9);
    };
    check(document, expected, 'overall');
    expect(document.by_position.map((part: { position: number }) => part.position)).toEqual([1, 2, 3]);
    expected.by_position.forEach((want, k) => check(document.by_position[k], want, `position ${want.position}`));
    expect(document.by_position[0].unlogged_target_share).toBe(0);
    // Each position rests on under 100 rounds: its own warning, named by its position.
    for (const position of [1, 2, 3])
      expect(run.stderr).toContain(`hindsight: ope: warning: position ${position}: the effective sample size is`);
    expect(run.stdout).not.toContain('"by_position": null');
    const plain = JSON.parse((await runHindsightInProcess(['ope', ...SLATE, '--target-policy', slateTarget], env())).stdout);
    expect(plain.by_position).toBeUndefined();
    expect(plain.estimators).toEqual(document.estimators);
  });

  it('warns per position and per slate of target weight on never-logged items and estimates outside the reward range; --strict exits 2', async () => {
    // 90% on the logged item (q̂ 0), 10% on an item no round logged (q̂ 20): each position's DM is 2.
    const unlogged = path.join(dir, 'slate-unlogged.ndjson');
    await writeFile(
      unlogged,
      slateIds
        .map((prediction_id, i) => {
          const item = `i${i % 2}`;
          return JSON.stringify({
            prediction_id,
            action_probabilities: { [item]: 0.9, 'never-shown': 0.1 },
            expected_rewards: { [item]: 0, 'never-shown': 20 },
          });
        })
        .join('\n') + '\n',
    );
    const neverTook = (n: number, rounds: string) =>
      `the target policy puts weight on actions the log never took (never-shown) in ${n} of ${n} ${rounds}, 10% of its weight over all ${rounds}: ` +
      'no round says what those actions earn ' +
      (rounds === 'rows'
        ? '(no logged slate holds them, so SIPS, IIPS and RIPS count them as earning nothing)'
        : '(IPW counts them as earning nothing, SNIPS as earning what the logged ones do, DM and DR take the reward model on trust)');
    const outside = (name: string, value: number, max: number) =>
      `${name} ${Number(value.toPrecision(4))} lies outside [0, ${max}], the range of the logged rewards: no policy can earn that, the weights made it`;

    const byPosition = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', unlogged, '--by', 'position', '--strict'], env());
    expect(byPosition.code).toBe(2);
    const positions = JSON.parse(byPosition.stdout);
    for (const part of positions.by_position) {
      expect(positions.reliability_warnings).toContain(`position ${part.position}: ${neverTook(part.n, 'rounds')}`);
      expect(part.estimators.dm.value).toBe(2);
      expect(positions.reliability_warnings).toContain(`position ${part.position}: ${outside('dm', 2, 1)}`);
      expect(positions.reliability_warnings).toContain(`position ${part.position}: ${outside('dr', part.estimators.dr.value, 1)}`);
    }
    for (const warning of positions.reliability_warnings) expect(byPosition.stderr).toContain(`hindsight: ope: warning: ${warning}\n`);
    expect(byPosition.stderr).toContain(
      `hindsight: ope: --strict: the estimates above should not be trusted (${positions.reliability_warnings.length} warning(s))`,
    );

    const slate = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', unlogged, '--slate', '--strict'], env());
    expect(slate.code).toBe(2);
    const slateDocument = JSON.parse(slate.stdout);
    expect(slateDocument.reliability_warnings).toContain(neverTook(sum.slate.length, 'rows'));
    expect(slate.stderr).toContain(`hindsight: ope: warning: ${neverTook(sum.slate.length, 'rows')}\n`);

    // All the mass on the logged item: each row's weight is 1/propensity, and SIPS multiplies them over the slate,
    // far beyond the most clicks a slate logged (3).
    const onLogged = path.join(dir, 'slate-on-logged.ndjson');
    await writeFile(
      onLogged,
      slateIds.map((prediction_id, i) => JSON.stringify({ prediction_id, action_probabilities: { [`i${i % 2}`]: 1 } })).join('\n') + '\n',
    );
    const inflated = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', onLogged, '--slate', '--strict'], env());
    expect(inflated.code).toBe(2);
    const inflatedDocument = JSON.parse(inflated.stdout);
    const sips = inflatedDocument.estimators.sips.value;
    expect(sips).toBeGreaterThan(3);
    expect(inflatedDocument.reliability_warnings).toContain(outside('sips', sips, 3));
    expect(inflated.stderr).toContain(`hindsight: ope: warning: ${outside('sips', sips, 3)}\n`);
    expect(inflated.stderr).toContain(
      `hindsight: ope: --strict: the estimates above should not be trusted (${inflatedDocument.reliability_warnings.length} warning(s))`,
    );
  });

  it('expands a target policy keyed by position and context to each prediction, as the same policy written per prediction', async () => {
    // Per position and half: probability q of i0, the rest on i1.
    const q = (position: number, half: string) => 0.1 * position + (half === 'a' ? 0.05 : 0.3);
    const keyed = path.join(dir, 'keyed.ndjson');
    await writeFile(
      keyed,
      [1, 2, 3]
        .flatMap((position) =>
          ['a', 'b'].map((half) =>
            JSON.stringify({ position, context: { half }, action_probabilities: { i0: q(position, half), i1: 1 - q(position, half) } }),
          ),
        )
        .join('\n') + '\n',
    );
    const expanded = path.join(dir, 'expanded.ndjson');
    await writeFile(
      expanded,
      slateIds
        .map((prediction_id, i) => {
          const p = q(at(sum, i), i < 40 ? 'a' : 'b');
          return JSON.stringify({ prediction_id, action_probabilities: { i0: p, i1: 1 - p } });
        })
        .join('\n') + '\n',
    );
    for (const mode of [['--slate'], ['--by', 'position']]) {
      // One at a time: an in-process run captures this process's stdout.
      const fromKeyed = JSON.parse((await runHindsightInProcess(['ope', ...SLATE, '--target-policy', keyed, ...mode], env())).stdout);
      const fromExpanded = JSON.parse((await runHindsightInProcess(['ope', ...SLATE, '--target-policy', expanded, ...mode], env())).stdout);
      expect(fromKeyed.excluded.no_target_policy).toBe(0);
      expect(fromKeyed.estimators).toEqual(fromExpanded.estimators);
      if (mode[0] === '--by') expect(fromKeyed.by_position).toEqual(fromExpanded.by_position);
    }
    // Lines keyed both ways, differing context keys, a repeated key: refused, naming the line.
    const bad = async (lines: object[]) => {
      await writeFile(keyed, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
      const run = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', keyed], env());
      expect(run.code).toBe(2);
      return run.stderr;
    };
    const line = (extra: object) => ({ action_probabilities: { i0: 1 }, ...extra });
    expect(await bad([line({ position: 1 }), line({ prediction_id: slateIds[0] })])).toBe(
      `hindsight: ${keyed} line 2: prediction_id: the file's first line is keyed by position; key every line by prediction_id or every line by position\n`,
    );
    expect(await bad([line({ position: 1, context: { half: 'a' } }), line({ position: 2 })])).toBe(
      `hindsight: ${keyed} line 2: context: names no key, line 1 half; every line names the same context keys\n`,
    );
    expect(await bad([line({ position: 1 }), line({ position: 1 })])).toBe(
      `hindsight: ${keyed} line 2: position: 1 with this context repeats an earlier line\n`,
    );
    // A context key no prediction's segment has (a typo): nothing could match, so it is refused, not left to exclude all.
    expect(await bad([line({ position: 1, context: { hlf: 'a' } }), line({ position: 2, context: { hlf: 'a' } })])).toBe(
      `hindsight: ${keyed} line 1: context.hlf: no prediction of the cohort has this segment key, so no line can match ` +
        '(their segments name half)\n',
    );
    // A misspelt key: neither prediction_id nor position, said as such (not as a bad prediction_id).
    expect(await bad([line({ position: 1 }), line({ positon: 2 })])).toBe(
      `hindsight: ${keyed} line 2: (line): names neither prediction_id nor position; key every line by one of them ` +
        '(it names action_probabilities, positon)\n',
    );
  });

  it('refuses a prediction without a position, two at one position, --clip and slate options without --slate', async () => {
    const cohort = (version: string) => SLATE.map((arg) => (arg === 'v1' ? version : arg));
    const missing = await runHindsightInProcess(['ope', ...cohort('v-missing'), '--target', 'greedy', '--slate'], env());
    expect(missing.code).toBe(2);
    const twice = await runHindsightInProcess(['ope', ...cohort('v-twice'), '--target', 'greedy', '--slate'], env());
    expect(twice.code).toBe(2);
    const clip = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', slateTarget, '--slate', '--clip', '2'], env());
    expect([clip.code, clip.stderr]).toEqual([
      2,
      'hindsight: ope: --clip clips the per-row estimators; the slate estimators take no clip\n',
    ]);
    const stray = await runHindsightInProcess(['ope', ...SLATE, '--target-policy', slateTarget, '--slate-reward', 'any'], env());
    expect([stray.code, stray.stderr]).toEqual([2, 'hindsight: ope: --slate-propensity and --slate-reward go with --slate\n']);
    expect(missing.stderr).toBe(
      "hindsight: --slate groups a request's predictions by request_id and orders them by position; " +
        `1 usable prediction(s) of the cohort log no request_id or no position (prediction ${missingPosition} has no position)\n`,
    );
    expect(twice.stderr).toBe('hindsight: request_id t0: two predictions at position 1; a slate has one per position\n');
    const mixed = await runHindsightInProcess(
      ['ope', ...cohort('v-joint-mixed'), '--target', 'greedy', '--slate', '--slate-propensity', 'joint'],
      env(),
    );
    expect([mixed.code, mixed.stderr]).toEqual([
      2,
      "hindsight: request_id x0: --slate-propensity joint needs the same propensity (the whole slate's) on every row; " +
        'position 1 has 0.25, position 2 has 0.5\n',
    ]);
    const unscored = await runHindsightInProcess(['ope', ...cohort('v-unscored'), '--target', 'greedy'], env());
    expect([unscored.code, unscored.stderr]).toEqual([
      2,
      "hindsight: the built-in greedy targets place each prediction's score against a threshold; 1 usable prediction(s) " +
        'of the cohort log no score; give --target-policy FILE instead\n',
    ]);
  });
});
