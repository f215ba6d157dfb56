import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCohort, storeSnapshot } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { getLabelDefinition, putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { projectToFinal } from '../../activities/estimate/projection';
import { retrainingEvidence } from '../../activities/monitoring/actions';
import { defaultMonitoringDependencies } from '../../activities/monitoring/dependencies';
import { checkStalledFeeds } from '../../activities/monitoring/feeds';
import { JudgingContext, readSnapshot } from '../../activities/monitoring/judging-context';
import { getPolicy, PolicyError, putPolicy, type MonitoringPolicy } from '../../activities/monitoring/policy';
import { canonicalJson } from '../../contracts/canonical-json';
import type { CohortRecord } from '../../contracts/cohort';
import { fixedDurationMs } from '../../contracts/iso-duration';
import { schedulePeriods } from '../../control/cohort-schedules';
import { mulberry32 } from '../../stats/seeded-random';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

const testDb = useTestDatabase();
const hindsight = (args: string[]) => runHindsightInProcess(args, { DATABASE_URL: testDb.url });
const stored = async (name: string) => Number((await testDb.db('monitoring_policies').where({ name }).count({ n: '*' }).first())!.n);

let dir: string;
const file = async (name: string, content: object | Buffer) => {
  const target = path.join(dir, name);
  await writeFile(target, Buffer.isBuffer(content) ? content : JSON.stringify(content));
  return target;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-policy-put-'));
  await putLabelDefinition(testDb.db, {
    name: 'careless-def',
    version: 1,
    model_name: 'careless-model',
    task: 'binary',
    window: 'P60D',
    checkpoints: ['P30D'],
    positive_outcome_types: ['chargeback'],
    absent_means: 'negative',
    slices: ['region'],
  });
  await putLabelDefinition(testDb.db, {
    name: 'careless-other-def',
    version: 1,
    model_name: 'careless-model',
    task: 'binary',
    window: 'P7D',
    positive_outcome_types: ['review'],
  });
  await putLabelDefinition(testDb.db, {
    name: 'other-model-def',
    version: 1,
    model_name: 'other-model',
    task: 'binary',
    window: 'P7D',
    positive_outcome_types: ['review'],
  });
});

const careless = {
  name: 'careless',
  version: 1,
  model_name: 'careless-model',
  label_definition: 'careless-def',
  rules: [{ name: 'recall-wow', kind: 'relative_drop', metric: 'recall', max_drop: 0.2 }],
};

describe('policy put refuses at the door what could only fail later', () => {
  it('every careless field is named, file first, exit 2, no SQL, and nothing is stored', async () => {
    const bad = await file('careless.json', {
      ...careless,
      rules: [
        { name: 'recall-wow', kind: 'relative_drop', metric: 'recall', max_drop: 0.2, checkpoints: ['P99D', 'banana'] },
        { name: 'rmse', kind: 'ceiling', metric: 'rmse', max: 1, slices: ['segment.nonexistent'] },
        { name: 'labels', kind: 'label_availability' },
        { name: 'feed', kind: 'stalled_feed', max_silence: 'P99999999Y' },
      ],
      retraining: {
        rules: ['recall-wow'],
        quiet_period: 'P99999999999Y',
        every: 'P1M',
        hook: { workflow: { type: 'retrain', task_queue: 'ml' } },
      },
      recalibration: { rules: ['recall-wow'], every: 'PT0S' },
    });
    const refused = await hindsight(['policy', 'put', bad]);
    expect(refused.code).toBe(2);
    const fields = refused.stderr
      .trim()
      .split('\n')
      .map((line) =>
        line
          .replace(/^hindsight: /, '')
          .split(': ')
          .slice(0, 2)
          .join(': '),
      );
    expect(fields).toEqual([
      `${bad}: rules.0.checkpoints.0`,
      `${bad}: rules.0.checkpoints.1`,
      `${bad}: rules.1.slices.0`,
      `${bad}: rules.1.metric`,
      `${bad}: rules.2.kind`,
      `${bad}: rules.3.max_silence`,
      `${bad}: retraining.quiet_period`,
      `${bad}: retraining.every`,
      `${bad}: recalibration.every`,
    ]);
    expect(refused.stderr).not.toMatch(/insert|select|SQLSTATE|\n\s+at /i);
    expect(await stored('careless')).toBe(0);
  });

  it('a band baseline with a reference cut into fewer than two chunks, from after to, and sigmas 0 is refused naming each field', async () => {
    const band = (reference: { from: string; to: string }, chunk: string, sigmas: number) => ({
      kind: 'band',
      reference,
      chunk,
      sigmas,
    });
    const bad = await file('band.json', {
      ...careless,
      rules: [
        {
          name: 'one-chunk',
          kind: 'relative_drop',
          metric: 'recall',
          max_drop: 0.2,
          baseline: band({ from: '2026-03-01T00:00:00Z', to: '2026-03-08T00:00:00Z' }, 'P7D', 3),
        },
        {
          name: 'backwards',
          kind: 'estimated_drop',
          metric: 'precision',
          max_drop: 0.2,
          baseline: band({ from: '2026-03-08T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'P1D', 0),
        },
      ],
    });
    const refused = await hindsight(['policy', 'put', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}: rules.0.baseline.chunk: P7D cuts the reference`);
    expect(refused.stderr).toContain('into fewer than 2 chunks; a band needs at least 2');
    expect(refused.stderr).toContain(`${bad}: rules.1.baseline.sigmas: 0 is not above 0`);
    expect(refused.stderr).toContain(`${bad}: rules.1.baseline.reference.from: 2026-03-08T00:00:00.000Z is not before reference.to`);
    expect(refused.stderr).not.toMatch(/insert|select|SQLSTATE|\n\s+at /i);
    expect(await stored('careless')).toBe(0);
  });

  it('a NUL in a string and a version the column cannot hold are named, not answered with a database error', async () => {
    const nul = await hindsight(['policy', 'put', await file('nul.json', { ...careless, description: 'fraud\u0000watch' })]);
    expect(nul.code).toBe(2);
    expect(nul.stderr).toContain('nul.json: description: contains a NUL character');
    const huge = await hindsight(['policy', 'put', await file('huge.json', { ...careless, version: 1099511627776, changelog: 'huge' })]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('huge.json: version: 1099511627776 is too large; a version is 1 … 2147483647');
    expect(`${nul.stderr}${huge.stderr}`).not.toMatch(/SQLSTATE|22P05|22003|invalid input|out of range for type/i);
    expect(await stored('careless')).toBe(0);
  });

  it('invalid UTF-8 is refused naming its line, never stored as U+FFFD', async () => {
    const text = JSON.stringify({ ...careless, description: 'cafe' }, null, 2).replace('"cafe"', '"caf\u0001"');
    const bytes = Buffer.from(text, 'utf8');
    bytes[bytes.indexOf(0x01)] = 0xe9; // Latin-1 é: not UTF-8
    const refused = await hindsight(['policy', 'put', await file('latin1.json', bytes)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`latin1.json: line ${text.split('\n').findIndex((l) => l.includes('caf')) + 1}: not valid UTF-8`);
    // Invalid JSON is named as such, without quoting the file's text (which may hold a secret).
    const broken = await hindsight(['policy', 'put', await file('broken.json', Buffer.from('{ "token": s3cret-value }'))]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.json: not valid JSON/);
    expect(broken.stderr).not.toContain('s3cret');
    expect(await stored('careless')).toBe(0);
  });

  it('a later version keeps the model and the label definition of the first: another one is a new policy name', async () => {
    expect((await hindsight(['policy', 'put', await file('v1.json', careless)])).code).toBe(0);
    const v2 = { ...careless, version: 2, changelog: 'moved' };
    const otherDefinition = await hindsight([
      'policy',
      'put',
      await file('v2-def.json', { ...v2, label_definition: 'careless-other-def' }),
    ]);
    expect(otherDefinition.code).toBe(2);
    expect(otherDefinition.stderr).toMatch(
      /v2-def\.json: label_definition: careless@1 watches label definition careless-def, .*a different label definition is a new policy name/,
    );
    const otherModel = await hindsight([
      'policy',
      'put',
      await file('v2-model.json', { ...v2, model_name: 'other-model', label_definition: 'other-model-def' }),
    ]);
    expect(otherModel.code).toBe(2);
    expect(otherModel.stderr).toMatch(
      /v2-model\.json: model_name: careless@1 watches model careless-model, .*a different model is a new policy name/,
    );
    expect(await stored('careless')).toBe(1);
    expect((await hindsight(['policy', 'put', await file('v2.json', v2)])).code).toBe(0);
  });

  it('score_psi features: a warning while no prediction is stored, then refused unless a stored prediction has the feature as a number or a string', async () => {
    const psi = (feature: string, version: number) => ({
      ...careless,
      name: 'careless-psi',
      version,
      changelog: `feature ${feature}`,
      rules: [{ name: 'psi', kind: 'score_psi', features: [feature] }],
    });
    const early = await hindsight(['policy', 'put', await file('psi-1.json', psi('amount', 1))]);
    expect(early.code).toBe(0);
    expect(early.stderr).toMatch(
      /psi-1\.json: warning: score_psi features \(amount\) not checked: no prediction of model careless-model is stored yet/,
    );
    await storeRows(testDb.db, 'predictions', [
      {
        prediction_id: '7d1c2a4e-0000-4000-8000-000000000001',
        model_name: 'careless-model',
        model_version: 'v1',
        ts_pred: '2026-05-01T00:00:00Z',
        score: 0.5,
        features: { amount: 12.5, country: 'FR', flag: true },
      },
    ]);
    for (const feature of ['amont', 'flag']) {
      const refused = await hindsight(['policy', 'put', await file('psi-2.json', psi(feature, 2))]);
      expect(refused.code, feature).toBe(2);
      expect(refused.stderr).toContain(
        `psi-2.json: rules.0.features.0: ${feature} is not a numeric or string-valued feature of any stored prediction of model careless-model; ` +
          'features seen: amount, country',
      );
    }
    // A string-valued feature is categorical: its PSI is taken over its categories.
    const checked = await hindsight(['policy', 'put', await file('psi-3.json', psi('country', 2))]);
    expect(checked.code).toBe(0);
    expect(checked.stderr).toBe('');
  });
});

/*
 * The seeded fuzz: a valid policy using every rule kind, mutated many ways, put against a
 * small real cohort. Each mutant is either refused at put with its field named (and nothing
 * stored), or stored, read back, and judged at every moment of the cohort's life without a
 * rule ending in error, its durations usable by the schedules, timers and SQL that take them.
 */
const MODEL = 'fuzz-model';
const DAY = 86_400_000;
const PREVIOUS = { start: '2026-03-02T00:00:00.000Z', end: '2026-03-09T00:00:00.000Z' };
const CURRENT = { start: '2026-03-09T00:00:00.000Z', end: '2026-03-16T00:00:00.000Z' };

const BASE = {
  name: 'fuzz',
  version: 1,
  model_name: MODEL,
  label_definition: 'fuzz-def',
  description: 'every rule kind',
  rules: [
    {
      name: 'recall-wow',
      kind: 'relative_drop',
      metric: 'recall',
      max_drop: 0.2,
      checkpoints: ['P1D', 'final'],
      slices: ['region'],
      min_slice_size: 10,
    },
    { name: 'auc-floor', kind: 'floor', metric: 'roc_auc', min: 0.6, slices: ['segment.channel'], min_slice_size: 10 },
    { name: 'ece-ceiling', kind: 'ceiling', metric: 'ece', max: 0.2 },
    { name: 'labels', kind: 'label_availability', tolerance: 0.05, history: 1 },
    { name: 'feed', kind: 'stalled_feed', outcome_types: ['chargeback'], max_silence: 'PT6H', check_every: 'PT1H' },
    { name: 'psi', kind: 'score_psi', max: 0.2, features: ['amount'] },
    { name: 'early', kind: 'estimated_drop', metric: 'recall', max_drop: 0.1, baseline: { kind: 'mean_of_last', k: 2 } },
    { name: 'projected', kind: 'projected_drop', metric: 'precision', max_drop: 0.1 },
  ],
  notifications: { webhook: { url: 'http://127.0.0.1:9/alerts', max_age: 'PT1H' } },
  retraining: { rules: ['recall-wow'], quiet_period: 'P1D', hook: { workflow: { type: 'retrain', task_queue: 'ml' } }, every: 'P7D' },
  recalibration: { rules: ['ece-ceiling'], every: 'P7D', train_periods: 2, holdout_periods: 1 },
};

const DURATIONS = [
  'PT0S',
  'PT1S',
  'PT59S',
  'PT1M',
  'PT90.5S',
  'P1M',
  'P1Y',
  'P10Y',
  'P3661D',
  'P99999999999Y',
  `P${'9'.repeat(400)}D`,
  'P1D',
  'PT6H',
  'P2W',
  'P',
  'PT',
  '1D',
  '-P1D',
  'P1.5D',
];
const METRICS = [
  'recall',
  'precision',
  'roc_auc',
  'ece',
  'brier',
  'log_loss',
  'expected_cost',
  'base_rate',
  'mean_score',
  'rmse',
  'mae',
  'r2',
  'bias',
  'positive_rate',
  'label_availability',
  'recal',
];
const NUMBERS = [0, -1, 1, 0.5, 0.05, 1.5, 4, 104, 105, 1e-300, 1e308, -1e308, Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1099511627776];
const STRINGS = [
  '',
  ' ',
  'a\u0000b',
  'lone \ud800',
  'banana',
  'x'.repeat(300),
  'final',
  'adhoc',
  'P1D',
  'P99D',
  'region',
  'segment.channel',
  'segment.nonexistent',
  'environment',
  'amount',
  'not_a_feature',
  'chargeback',
  '\u202eevil',
  'café',
];
const KINDS = [
  'relative_drop',
  'floor',
  'ceiling',
  'label_availability',
  'stalled_feed',
  'score_psi',
  'estimated_drop',
  'projected_drop',
  'anomaly',
];
const OTHERS = [null, true, false, [], {}, [1], { kind: 'previous' }, { kind: 'mean_of_last', k: 0 }, { kind: 'mean_of_last', k: 3 }];

/** Values by what the key names, so that many mutants stay plausible and reach the judging. */
function poolFor(key: string | number | undefined, parent: string | undefined): unknown[] {
  const name = typeof key === 'number' ? parent : key;
  if (name && /every|period|silence|max_age/.test(name)) return DURATIONS;
  if (name === 'metric') return METRICS;
  if (name === 'kind') return KINDS;
  if (name === 'checkpoints') return ['P1D', 'P2D', 'final', 'adhoc', 'banana', ''];
  if (name === 'slices') return ['region', 'segment.channel', 'segment.nonexistent', 'environment', 'model_version'];
  if (name === 'features') return ['amount', 'not_a_feature', 'score', ''];
  if (name === 'outcome_types') return ['chargeback', 'legit', 'never-seen', ''];
  if (name && /max|min|drop|alpha|tolerance|history|size|periods|version|^k$/.test(name)) return NUMBERS;
  return [...STRINGS, ...NUMBERS, ...OTHERS];
}

type Node = { parent: Record<string, unknown> | unknown[]; key: string | number; parentKey: string | undefined };

function nodesOf(value: unknown, parentKey?: string): Node[] {
  if (Array.isArray(value)) return value.flatMap((item, key) => [{ parent: value, key, parentKey }, ...nodesOf(item, parentKey)]);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => [
      { parent: value as Record<string, unknown>, key, parentKey },
      ...nodesOf(item, key),
    ]);
  return [];
}

function mutate(policy: Record<string, unknown>, random: () => number): Record<string, unknown> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const copy = structuredClone(policy) as Record<string, unknown>;
  for (let step = 0, steps = random() < 0.7 ? 1 : 2; step < steps; step++) {
    const nodes = nodesOf(copy);
    const node = pick(nodes);
    const op = random();
    if (op < 0.45) {
      const hinted = random() < 0.85 ? poolFor(node.key, node.parentKey) : [...STRINGS, ...NUMBERS, ...OTHERS, ...DURATIONS];
      (node.parent as Record<string | number, unknown>)[node.key] = structuredClone(pick(hinted));
    } else if (op < 0.65) {
      if (Array.isArray(node.parent)) node.parent.splice(node.key as number, 1);
      else delete node.parent[node.key as string];
    } else if (op < 0.72) {
      const objects = nodes.filter((n) => n.parent !== null && !Array.isArray(n.parent)).map((n) => n.parent as Record<string, unknown>);
      pick([copy, ...objects]).bogus = pick(NUMBERS);
    } else if (op < 0.85) {
      const arrays = nodes.filter((n) => Array.isArray(n.parent)).map((n) => ({ array: n.parent as unknown[], key: n.parentKey }));
      if (arrays.length > 0) {
        const { array, key } = pick(arrays);
        array.push(structuredClone(pick(poolFor(key, key))));
      }
    } else if (Array.isArray(copy.rules) && copy.rules.length > 0) {
      const rule = structuredClone(pick(BASE.rules)) as Record<string, unknown>;
      copy.rules.push({ ...rule, name: `extra-${step}`, ...(random() < 0.5 ? { kind: pick(KINDS) } : {}) });
    }
  }
  return copy;
}

describe('a seeded fuzz of policy files', () => {
  beforeAll(async () => {
    await putLabelDefinition(testDb.db, {
      name: 'fuzz-def',
      version: 1,
      model_name: MODEL,
      task: 'binary',
      window: 'P2D',
      checkpoints: ['P1D'],
      positive_outcome_types: ['chargeback'],
      negative_outcome_types: ['legit'],
      absent_means: 'unknown',
      slices: ['region', 'segment.channel'],
      costs: { fp: 1, fn: 5 },
    });
    const random = mulberry32(7);
    for (const [index, period] of [PREVIOUS, CURRENT].entries()) {
      const predictions = [];
      const outcomes = [];
      for (let i = 0; i < 160; i++) {
        const id = `00000000-0000-4000-8000-${String(index * 1000 + i).padStart(12, '0')}`;
        const ts = Date.parse(period.start) + Math.floor((i / 160) * 7 * DAY);
        const positive = random() < 0.3;
        const score = Math.min(0.99, Math.max(0.01, (positive ? 0.65 : 0.3) + (random() - 0.5) * (index === 0 ? 0.5 : 0.7)));
        predictions.push({
          prediction_id: id,
          model_name: MODEL,
          model_version: 'v1',
          environment: 'production',
          region: i % 2 ? 'north' : 'south',
          segment: { channel: i % 3 ? 'web' : 'app' },
          ts_pred: new Date(ts).toISOString(),
          score,
          features: { amount: Math.round(random() * 100 + index * 20) },
        });
        // Half the labels come within a day (the P1D checkpoint sees them), the rest by the window's end.
        const at = new Date(ts + (i % 2 ? 12 : 36) * 3600_000).toISOString();
        outcomes.push({
          outcome_id: `o-${id}`,
          prediction_id: id,
          outcome_type: positive ? 'chargeback' : 'legit',
          ts_event: at,
          ts_received: at,
        });
      }
      await storeRows(testDb.db, 'predictions', predictions);
      await storeRows(testDb.db, 'outcomes', outcomes);
    }
  });

  it('every mutant is refused with its field named, or stored and judged without error (600 mutants, seed 20260601)', async () => {
    const definition = await getLabelDefinition(testDb.db, { name: 'fuzz-def' });
    const snapshots: Array<number | null> = [];
    let current: CohortRecord | undefined;
    for (const [index, period] of [PREVIOUS, CURRENT].entries()) {
      const record: CohortRecord = {
        cohort_id: `fuzz-${index}`,
        model_name: MODEL,
        model_version: 'v1',
        environment: 'production',
        ...period,
        label_definition_name: 'fuzz-def',
        label_definition_version: 1,
      };
      await registerCohort(testDb.db, record);
      const checkpoint = new Date(Date.parse(period.end) + DAY).toISOString();
      const provisional = await evaluateCohort(testDb.db, record, definition, checkpoint);
      provisional.projected = await projectToFinal(testDb.db, {
        cohort: record,
        definition,
        checkpoint: 'P1D',
        asOf: checkpoint,
        document: provisional,
      });
      const p1d = await storeSnapshot(testDb.db, record, 'P1D', 1, provisional);
      const final = await storeSnapshot(
        testDb.db,
        record,
        'final',
        1,
        await evaluateCohort(testDb.db, record, definition, new Date(Date.parse(period.end) + 3 * DAY).toISOString()),
      );
      if (index === 1) {
        expect(provisional.projected, 'the P1D snapshot carries a projection').not.toBeNull();
        snapshots.push(p1d.snapshot_id, final.snapshot_id, null);
        current = record;
      }
    }
    const contexts = await Promise.all(
      snapshots.map(
        async (id) =>
          new JudgingContext(
            testDb.db,
            defaultMonitoringDependencies,
            current!,
            definition,
            id === null ? null : await readSnapshot(testDb.db, id),
          ),
      ),
    );
    const judged = new Set<string>();
    const feedsChecked = new Set<string>();
    const problems: string[] = [];
    const counts = { refused: 0, accepted: 0, judgements: 0 };

    const judge = async (policy: MonitoringPolicy, label: string) => {
      for (const [moment, context] of contexts.entries()) {
        for (const rule of policy.rules) {
          const key = `${moment} ${canonicalJson(rule)}`;
          if (judged.has(key) || !context.applies(rule)) continue;
          judged.add(key);
          try {
            const judgements = await context.judge(rule);
            counts.judgements += judgements.length;
            for (const j of judgements.filter((j) => j.verdict === 'error'))
              problems.push(`${label}: ${rule.name} at moment ${moment}: ${j.reason}`);
          } catch (error) {
            problems.push(`${label}: ${rule.name} at moment ${moment} threw ${(error as Error).message}`);
          }
        }
      }
      const feeds = policy.rules.filter((rule) => rule.kind === 'stalled_feed');
      const feedKey = canonicalJson(feeds);
      if (feeds.length > 0 && !feedsChecked.has(feedKey)) {
        feedsChecked.add(feedKey);
        await checkStalledFeeds(testDb.db, { policy: policy.name, now: '2026-03-20T00:00:00Z' }).catch((error: Error) =>
          problems.push(`${label}: feed check: ${error.message}`),
        );
      }
      // What the schedules, the retraining timer and the delivery's expiry take from it.
      for (const every of [policy.retraining?.every, policy.recalibration?.every, ...feeds.map((rule) => rule.check_every)]) {
        if (every === undefined) continue;
        try {
          schedulePeriods(every);
        } catch (error) {
          problems.push(`${label}: a schedule refuses ${every}: ${(error as Error).message}`);
        }
      }
      if (policy.retraining) {
        const evidence = retrainingEvidence(
          policy,
          current!,
          null,
          [
            {
              rule: policy.rules.find((r) => r.name === policy.retraining!.rules[0])!,
              alerts: [{ alert_id: 1, rule_name: 'r', slice_dimension: '', slice_value: null, observed: 1, baseline: 1 }],
            },
          ],
          null,
        );
        if (
          !evidence ||
          !Number.isFinite(new Date(Date.now() + evidence.quietPeriodMs).getTime()) ||
          fixedDurationMs(evidence.quietPeriod) === undefined
        )
          problems.push(`${label}: quiet period ${policy.retraining.quiet_period} cannot time a workflow`);
      }
      const maxAge = policy.notifications.webhook?.max_age;
      if (maxAge !== undefined && fixedDurationMs(maxAge) === undefined) problems.push(`${label}: max_age ${maxAge} is not fixed`);
    };

    const base = await putPolicy(testDb.db, BASE, 'fuzz.json');
    expect(base.warnings).toEqual([]);
    await judge(base.policy, 'the base policy');
    expect(problems).toEqual([]);

    const random = mulberry32(20260601);
    for (let i = 0; i < 600; i++) {
      const mutant = mutate(BASE, random);
      // A valid name would collide with another mutant's: each mutant is its own policy.
      if (typeof mutant.name === 'string' && /^[A-Za-z0-9_.-]{1,100}$/.test(mutant.name)) mutant.name = `fuzz-${i}`;
      const label = `mutant ${i} ${JSON.stringify(mutant).slice(0, 2000)}`;
      try {
        const { policy } = await putPolicy(testDb.db, mutant, 'fuzz.json');
        counts.accepted += 1;
        expect(await getPolicy(testDb.db, { name: policy.name, version: policy.version }), label).toEqual(policy);
        await judge(policy, label);
      } catch (error) {
        if (!(error instanceof PolicyError)) {
          problems.push(`${label}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
          continue;
        }
        counts.refused += 1;
        for (const line of error.message.split('\n')) {
          if (!/^fuzz\.json: ([A-Za-z0-9_.-]+|\(root\)): \S/.test(line) || (line.includes('(root)') && !line.includes('Unrecognized key')))
            problems.push(`${label}: the refusal names no field: ${line}`);
        }
        if (typeof mutant.name === 'string' && (await stored(mutant.name)) > 0) problems.push(`${label}: refused, yet stored`);
      }
    }
    expect(problems).toEqual([]);
    // The fuzz reaches both sides: many refusals and many judged mutants.
    expect(counts.refused).toBeGreaterThan(350);
    expect(counts.accepted).toBeGreaterThan(80);
    expect(counts.judgements).toBeGreaterThan(120);
  });
});
