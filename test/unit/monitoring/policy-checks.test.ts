import { describe, expect, it } from 'vitest';
import { checkPolicy, formatPolicyIssues, metricsOf, textIssues } from '../../../activities/monitoring/policy-checks';
import { BINARY_METRICS, policySchema, REGRESSION_METRICS } from '../../../activities/monitoring/policy';
import { labelDefinitionSchema, type LabelDefinition } from '../../../contracts/label-definition';

const binary: LabelDefinition = labelDefinitionSchema.parse({
  name: 'chargeback',
  version: 2,
  changelog: 'slices',
  model_name: 'fraud',
  task: 'binary',
  window: 'P90D',
  checkpoints: ['P30D', 'P60D'],
  positive_outcome_types: ['chargeback'],
  absent_means: 'unknown',
  slices: ['region', 'segment.channel'],
});
const negative: LabelDefinition = { ...binary, absent_means: 'negative' };
const regression: LabelDefinition = labelDefinitionSchema.parse({
  name: 'basket',
  version: 1,
  model_name: 'fraud',
  task: 'regression',
  window: 'P7D',
  outcome_types: ['basket_value'],
});

const RECALL = { name: 'recall-wow', kind: 'relative_drop', metric: 'recall', max_drop: 0.2 };

/** The issues `policy put` reports for a policy with these rules and blocks, as it prints them. */
function issues(fields: Record<string, unknown>, definition: LabelDefinition = binary): string[] {
  const policy = policySchema.parse({
    name: 'fraud-monitoring',
    version: 1,
    model_name: 'fraud',
    label_definition: 'chargeback',
    rules: [RECALL],
    ...fields,
  });
  return formatPolicyIssues(checkPolicy(policy, definition), 'policy.json').split('\n').filter(Boolean);
}

const retraining = (fields: Record<string, unknown>) => ({
  retraining: { rules: ['recall-wow'], hook: { workflow: { type: 'retrain', task_queue: 'ml' } }, ...fields },
});

describe('policy put checks durations for their use', () => {
  it('retraining.every P1M is refused: the new version’s cohort schedule needs a fixed period', () => {
    expect(issues(retraining({ every: 'P1M' }))).toEqual([
      expect.stringMatching(/^policy\.json: retraining\.every: P1M has months or years, which vary in length; .*fixed duration/),
    ]);
  });

  it('quiet_period P99999999999Y is refused as longer than 10 years, and a calendar one as not fixed', () => {
    expect(issues(retraining({ quiet_period: 'P99999999999Y' }))).toEqual([
      expect.stringMatching(/^policy\.json: retraining\.quiet_period: P99999999999Y is longer than 10 years/),
    ]);
    expect(issues(retraining({ quiet_period: 'P1M' }))).toEqual([
      expect.stringMatching(/^policy\.json: retraining\.quiet_period: P1M has months/),
    ]);
    // A quiet period of zero debounces nothing, which is allowed; ten years is the longest.
    expect(issues(retraining({ quiet_period: 'PT0S', every: 'P3650D' }))).toEqual([]);
  });

  it('recalibration.every PT0S is refused, and so is anything that repeats more often than once a minute', () => {
    const recalibration = (every: string) => ({ recalibration: { rules: ['recall-wow'], every } });
    expect(issues(recalibration('PT0S'))).toEqual([expect.stringMatching(/^policy\.json: recalibration\.every: PT0S is zero/)]);
    expect(issues(recalibration('PT59S'))).toEqual([
      expect.stringMatching(/^policy\.json: recalibration\.every: PT59S is shorter than a minute/),
    ]);
    expect(issues(recalibration('PT90.5S'))).toEqual([expect.stringMatching(/PT90\.5S is not a whole number of seconds/)]);
    expect(issues(recalibration('PT1M'))).toEqual([]);
  });

  it('stalled_feed max_silence is bounded (a zero or century-long silence is refused) and check_every repeats at most once a minute', () => {
    const feed = (fields: Record<string, unknown>) => ({
      rules: [RECALL, { name: 'feed', kind: 'stalled_feed', max_silence: 'PT6H', ...fields }],
    });
    expect(issues(feed({ max_silence: 'P99999999Y' }))).toEqual([
      expect.stringMatching(/^policy\.json: rules\.1\.max_silence: P99999999Y is longer than 10 years/),
    ]);
    expect(issues(feed({ max_silence: 'PT0S' }))).toEqual([expect.stringMatching(/^policy\.json: rules\.1\.max_silence: PT0S is zero/)]);
    expect(issues(feed({ check_every: 'PT1S' }))).toEqual([
      expect.stringMatching(/^policy\.json: rules\.1\.check_every: PT1S is shorter than a minute/),
    ]);
    expect(issues(feed({ check_every: 'P1M' }))).toEqual([expect.stringMatching(/^policy\.json: rules\.1\.check_every: P1M has months/)]);
    // A calendar silence is fine: the feed check adds it in SQL.
    expect(issues(feed({ max_silence: 'P1M', check_every: 'PT15M' }))).toEqual([]);
  });
});

describe('policy put checks rules against the label definition', () => {
  it('metric rmse is refused on a binary definition, recall on a regression one', () => {
    expect(issues({ rules: [{ name: 'r', kind: 'ceiling', metric: 'rmse', max: 2 }] })).toEqual([
      expect.stringMatching(/^policy\.json: rules\.0\.metric: rmse is not a binary metric .*use one of recall/),
    ]);
    expect(issues({ rules: [RECALL] }, regression)).toEqual([
      expect.stringMatching(/^policy\.json: rules\.0\.metric: recall is not a regression metric/),
    ]);
    expect(issues({ rules: [{ name: 'r', kind: 'ceiling', metric: 'rmse', max: 2 }] }, regression)).toEqual([]);
  });

  it('checkpoints ["P99D", "banana"] are both refused; the definition’s own, final and adhoc are taken', () => {
    expect(issues({ rules: [{ ...RECALL, checkpoints: ['P99D', 'banana'] }] })).toEqual([
      'policy.json: rules.0.checkpoints.0: P99D is not a checkpoint of label definition chargeback@2; use one of P30D, P60D, final, adhoc',
      'policy.json: rules.0.checkpoints.1: banana is not a checkpoint of label definition chargeback@2; use one of P30D, P60D, final, adhoc',
    ]);
    expect(issues({ rules: [{ ...RECALL, checkpoints: ['P30D', 'P60D', 'final', 'adhoc'] }] })).toEqual([]);
  });

  it('slices must be dimensions the definition slices by', () => {
    expect(issues({ rules: [{ ...RECALL, slices: ['region', 'segment.nonexistent'] }] })).toEqual([
      'policy.json: rules.0.slices.1: segment.nonexistent is not a slice of label definition chargeback@2; use one of region, segment.channel',
    ]);
    expect(issues({ rules: [{ ...RECALL, metric: 'mae', slices: ['region'] }] }, regression)).toEqual([
      expect.stringContaining('rules.0.slices.0: region is not a slice of label definition basket@1, which has none'),
    ]);
  });

  it('label_availability is refused under absent_means negative, where every prediction counts as labeled', () => {
    const rules = [{ name: 'labels-on-time', kind: 'label_availability' }];
    expect(issues({ rules }, negative)).toEqual([
      expect.stringMatching(/^policy\.json: rules\.0\.kind: label_availability can never fire .*stalled_feed/),
    ]);
    expect(issues({ rules }, binary)).toEqual([]);
  });

  it('a floor or ceiling outside the metric’s range is refused; expected_cost needs costs', () => {
    expect(issues({ rules: [{ name: 'r', kind: 'floor', metric: 'recall', min: 1.5 }] })).toEqual([
      expect.stringMatching(/^policy\.json: rules\.0\.min: 1\.5 is outside the range of recall \(0 … 1\), so the rule would always fire/),
    ]);
    expect(issues({ rules: [{ name: 'r', kind: 'ceiling', metric: 'log_loss', max: -1 }] })).toEqual([
      expect.stringMatching(/rules\.0\.max: -1 is outside the range of log_loss \(0 or more\), so the rule would always fire/),
    ]);
    expect(issues({ rules: [{ name: 'r', kind: 'ceiling', metric: 'r2', max: 3 }] }, regression)).toEqual([
      expect.stringMatching(/rules\.0\.max: 3 is outside the range of r2 \( … 1\), so the rule would never fire/),
    ]);
    expect(issues({ rules: [{ name: 'r', kind: 'ceiling', metric: 'expected_cost', max: 3 }] })).toEqual([
      expect.stringMatching(/rules\.0\.metric: expected_cost needs costs/),
    ]);
    expect(
      issues({ rules: [{ name: 'r', kind: 'ceiling', metric: 'expected_cost', max: 3 }] }, { ...binary, costs: { fp: 1, fn: 5 } }),
    ).toEqual([]);
    expect(issues({ rules: [{ name: 'r', kind: 'floor', metric: 'bias', min: -1e6 }] }, regression)).toEqual([]);
  });

  it('label-free and projected rules, and recalibration, need a binary definition; a feed rule never asks for retraining', () => {
    const rules = [
      { name: 'mae', kind: 'ceiling', metric: 'mae', max: 5 },
      { name: 'early', kind: 'estimated_drop', metric: 'recall', max_drop: 0.1 },
      { name: 'projected', kind: 'projected_drop', metric: 'recall', max_drop: 0.1 },
      { name: 'feed', kind: 'stalled_feed', max_silence: 'P1D' },
    ];
    expect(issues({ rules, recalibration: { rules: ['mae'] }, ...retraining({ rules: ['feed'] }) }, regression)).toEqual([
      expect.stringMatching(/^policy\.json: rules\.1\.kind: estimated_drop needs a binary label definition/),
      expect.stringMatching(/^policy\.json: rules\.2\.kind: projected_drop needs a binary label definition/),
      expect.stringMatching(/^policy\.json: recalibration: recalibration fits a calibrator of probabilities/),
      expect.stringMatching(/^policy\.json: retraining\.rules\.0: feed is a stalled_feed rule/),
    ]);
  });

  it('version 1099511627776 is refused before the database sees it', () => {
    expect(issues({ version: 1099511627776, changelog: 'a careless version' })).toEqual([
      expect.stringMatching(/^policy\.json: version: 1099511627776 is too large; a version is 1 … 2147483647/),
    ]);
  });

  it('the checks’ metric lists are the schema’s', () => {
    expect(metricsOf('binary').sort()).toEqual([...BINARY_METRICS].sort());
    expect(metricsOf('regression').sort()).toEqual([...REGRESSION_METRICS].sort());
  });
});

describe('strings a policy holds', () => {
  it('a NUL or an unpaired surrogate is refused with its path, in values and in keys; other text passes', () => {
    const input = {
      description: 'fraud\u0000',
      rules: [{ name: 'r', runbook: 'see \ud800 here' }],
      notifications: { webhook: { headers: { 'x\u0000y': 'v' } } },
      changelog: 'emoji 🙂 and accents é are fine',
    };
    expect(formatPolicyIssues(textIssues(input), 'policy.json').split('\n')).toEqual([
      'policy.json: description: contains a NUL character (\\u0000), which cannot be stored',
      'policy.json: rules.0.runbook: contains an unpaired surrogate (such as \\ud800), which is no Unicode character',
      'policy.json: notifications.webhook.headers.x?y: this key contains a NUL character (\\u0000), which cannot be stored',
    ]);
  });
});

describe('the examples pass', () => {
  it('a policy using every rule kind the definition allows has no issue', () => {
    const rules = [
      { ...RECALL, checkpoints: ['P30D'], slices: ['region'], baseline: { kind: 'mean_of_last', k: 4 } },
      { name: 'auc-floor', kind: 'floor', metric: 'roc_auc', min: 0.8 },
      { name: 'labels', kind: 'label_availability', tolerance: 0.05 },
      { name: 'feed', kind: 'stalled_feed', max_silence: 'PT6H', check_every: 'PT1H' },
      { name: 'psi', kind: 'score_psi', max: 0.2, features: ['amount'] },
      { name: 'early', kind: 'estimated_drop', metric: 'recall', max_drop: 0.15 },
      { name: 'projected', kind: 'projected_drop', metric: 'recall', max_drop: 0.15 },
    ];
    expect(
      issues({ rules, ...retraining({ quiet_period: 'P7D', every: 'P7D' }), recalibration: { rules: ['auc-floor'], every: 'P7D' } }),
    ).toEqual([]);
  });
});
