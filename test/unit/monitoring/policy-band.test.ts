import { describe, expect, it } from 'vitest';
import { checkPolicy, formatPolicyIssues } from '../../../activities/monitoring/policy-checks';
import { policySchema } from '../../../activities/monitoring/policy';
import { labelDefinitionSchema, type LabelDefinition } from '../../../contracts/label-definition';

const binary: LabelDefinition = labelDefinitionSchema.parse({
  name: 'chargeback',
  version: 1,
  model_name: 'fraud',
  task: 'binary',
  window: 'P30D',
  positive_outcome_types: ['chargeback'],
  slices: ['region'],
});
const regression: LabelDefinition = labelDefinitionSchema.parse({
  name: 'basket',
  version: 1,
  model_name: 'fraud',
  task: 'regression',
  window: 'P7D',
  outcome_types: ['basket_value'],
});

const REFERENCE = { from: '2026-03-01T00:00:00Z', to: '2026-03-29T00:00:00Z' };

/** The lines `policy put` prints for one rule with a band baseline. */
function issues(rule: Record<string, unknown>, definition: LabelDefinition = binary): string[] {
  const parsed = policySchema.safeParse({
    name: 'fraud-monitoring',
    version: 1,
    model_name: 'fraud',
    label_definition: definition.name,
    // A field given as undefined is left out (a score_psi rule has no metric).
    rules: [
      Object.fromEntries(
        Object.entries({ name: 'recall-band', kind: 'relative_drop', metric: 'recall', max_drop: 0.2, ...rule }).filter(
          ([, value]) => value !== undefined,
        ),
      ),
    ],
  });
  if (!parsed.success) return parsed.error.issues.map((issue) => `policy.json: ${issue.path.join('.')}: ${issue.message}`);
  return formatPolicyIssues(checkPolicy(parsed.data, definition), 'policy.json').split('\n').filter(Boolean);
}
const band = (fields: Record<string, unknown> = {}) => ({ baseline: { kind: 'band', reference: REFERENCE, chunk: 'P7D', ...fields } });

describe('policy put: the band baseline', () => {
  it('a reference of four weeks cut by P7D, sigmas defaulting to 3, is accepted, for relative_drop and estimated_drop alike', () => {
    expect(issues(band())).toEqual([]);
    expect(issues({ kind: 'estimated_drop', ...band({ sigmas: 2.5 }) })).toEqual([]);
    const parsed = policySchema.parse({
      name: 'p',
      version: 1,
      model_name: 'fraud',
      label_definition: 'chargeback',
      rules: [{ name: 'r', kind: 'relative_drop', metric: 'recall', max_drop: 0.2, ...band() }],
    });
    expect(parsed.rules[0]).toMatchObject({ baseline: { kind: 'band', sigmas: 3, reference: { from: '2026-03-01T00:00:00.000Z' } } });
  });

  it('refuses from at or after to, naming reference.from', () => {
    expect(issues(band({ reference: { from: REFERENCE.to, to: REFERENCE.from } }))).toEqual([
      'policy.json: rules.0.baseline.reference.from: 2026-03-29T00:00:00.000Z is not before reference.to 2026-03-01T00:00:00.000Z',
    ]);
    expect(issues(band({ reference: { from: REFERENCE.from, to: REFERENCE.from } }))[0]).toMatch(
      /^policy\.json: rules\.0\.baseline\.reference\.from: /,
    );
  });

  it('refuses a chunk that leaves fewer than two reference chunks, one of zero length, one longer than 10 years, and a bad duration', () => {
    expect(issues(band({ chunk: 'P28D' }))).toEqual([
      'policy.json: rules.0.baseline.chunk: P28D cuts the reference [2026-03-01T00:00:00.000Z, 2026-03-29T00:00:00.000Z) ' +
        'into fewer than 2 chunks; a band needs at least 2: give a shorter chunk or a longer reference',
    ]);
    expect(issues(band({ chunk: 'P27D' }))).toEqual([]);
    expect(issues(band({ chunk: 'PT0S' }))).toEqual([
      'policy.json: rules.0.baseline.chunk: PT0S is zero; a reference chunk must be longer than zero',
    ]);
    expect(issues(band({ chunk: 'P11Y' }))[0]).toMatch(/^policy\.json: rules\.0\.baseline\.chunk: P11Y is longer than 10 years/);
    expect(issues(band({ chunk: 'seven days' }))[0]).toMatch(/^policy\.json: rules\.0\.baseline\.chunk: /);
    expect(issues(band({ chunk: 'PT1M' }))).toEqual([
      'policy.json: rules.0.baseline.chunk: PT1M cuts the reference into more than 1000 chunks; give a longer chunk',
    ]);
  });

  it('refuses sigmas at or below 0, naming baseline.sigmas', () => {
    for (const sigmas of [0, -1])
      expect(issues(band({ sigmas }))).toEqual([
        `policy.json: rules.0.baseline.sigmas: ${sigmas} is not above 0; the band is mean ± sigmas standard deviations`,
      ]);
  });

  it('refuses a metric the band is not drawn for, slices, a regression definition, and a band for projected_drop', () => {
    expect(issues({ metric: 'brier', ...band() })).toEqual([
      'policy.json: rules.0.metric: a band baseline is drawn for roc_auc, pr_auc, precision, recall, f1, specificity, accuracy, positive_rate; brier is not one of them',
    ]);
    expect(issues({ slices: ['region'], ...band() })).toEqual([
      'policy.json: rules.0.slices: a band baseline is drawn for the whole cohort; judge slices with a previous or mean_of_last baseline',
    ]);
    expect(issues({ metric: 'mae', ...band() }, regression)).toContain(
      'policy.json: rules.0.baseline.kind: a band is drawn from binary metrics; label definition basket@1 is regression',
    );
    expect(issues({ kind: 'projected_drop', ...band() })[0]).toMatch(/^policy\.json: rules\.0\.baseline\.kind: /);
  });

  it('refuses require_interval on a rule that judges no metric, and an unknown calibrate', () => {
    expect(issues({ kind: 'score_psi', metric: undefined, max_drop: undefined, require_interval: true })).toEqual([
      'policy.json: rules.0.require_interval: a score_psi rule judges no metric with an interval; remove require_interval',
    ]);
    expect(issues({ kind: 'estimated_drop', calibrate: 'beta' })[0]).toMatch(/^policy\.json: rules\.0\.calibrate: /);
  });

  it('refuses require_interval on a metric whose interval a snapshot cannot give, which would never fire', () => {
    expect(issues({ metric: 'roc_auc', require_interval: true })).toEqual([
      'policy.json: rules.0.require_interval: a snapshot gives an interval for recall, precision, base_rate only (from its counts); roc_auc has none, so the rule would never fire; remove require_interval',
    ]);
    expect(issues({ kind: 'floor', metric: 'brier', max_drop: undefined, min: 0.1, require_interval: true })).toHaveLength(1);
    for (const metric of ['recall', 'precision', 'base_rate']) expect(issues({ metric, require_interval: true })).toEqual([]);
    expect(issues({ kind: 'estimated_drop', require_interval: true })).toEqual([]);
  });
});
