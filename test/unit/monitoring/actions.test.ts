import { describe, expect, it } from 'vitest';
import type { CohortRecord } from '../../../contracts/cohort';
import { recalibrationRequest, retrainingEvidence } from '../../../activities/monitoring/actions';
import type { AlertRow } from '../../../activities/monitoring/alert-store';
import { policySchema, type MonitoringPolicy, type PolicyRule } from '../../../activities/monitoring/policy';

const DAY_MS = 86_400_000;

const record: CohortRecord = {
  cohort_id: 'cohort-w10',
  model_name: 'fraud',
  model_version: 'v1',
  environment: null,
  start: '2026-08-03T00:00:00.000Z',
  end: '2026-08-10T00:00:00.000Z',
  label_definition_name: 'chargeback',
  label_definition_version: 1,
};

/** The rules of every policy below; the retraining and recalibration blocks name some of them. */
const RULES = [
  { name: 'recall_drop', kind: 'relative_drop', metric: 'recall', max_drop: 0.1 },
  { name: 'calibration', kind: 'ceiling', metric: 'ece', max: 0.05 },
  { name: 'score_shift', kind: 'score_psi' },
  { name: 'labels_late', kind: 'label_availability' },
];

/** A policy as a stored one gives it: parsed by the real schema, so its defaults apply. */
const policyOf = (blocks: { retraining?: Record<string, unknown>; recalibration?: Record<string, unknown> }): MonitoringPolicy =>
  policySchema.parse({ name: 'fraud-quality', version: 1, model_name: 'fraud', label_definition: 'chargeback', rules: RULES, ...blocks });

const ruleOf = (policy: MonitoringPolicy, name: string): PolicyRule => {
  const rule = policy.rules.find((r) => r.name === name);
  if (!rule) throw new Error(`no rule ${name}`);
  return rule;
};

type Alert = Pick<AlertRow, 'alert_id' | 'rule_name' | 'slice_dimension' | 'slice_value' | 'observed' | 'baseline'>;
const alert = (
  alertId: number,
  rule: string,
  dimension = '',
  value: string | null = null,
  observed: number | null = 0.5,
  baseline: number | null = 0.6,
): Alert => ({ alert_id: alertId, rule_name: rule, slice_dimension: dimension, slice_value: value, observed, baseline });

const WEBHOOK = { webhook: { url: 'https://ml.example.com/retrain' } };
const snapshot = { snapshotId: 7, checkpoint: 'P30D' };

describe('retrainingEvidence', () => {
  const retraining = (fields: Record<string, unknown> = {}) =>
    policyOf({ retraining: { rules: ['recall_drop'], hook: WEBHOOK, ...fields } });

  it('no retraining block: no evidence', () => {
    const policy = policyOf({});
    expect(policy.retraining).toBeUndefined();
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(1, 'recall_drop')] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, 'quality')).toBeNull();
  });

  it('no evidence when none of the fired rules is named by the retraining block', () => {
    const policy = retraining();
    expect(retrainingEvidence(policy, record, snapshot, [], 'quality')).toBeNull();
    const fired = [{ rule: ruleOf(policy, 'score_shift'), alerts: [alert(1, 'score_shift')] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, 'quality')).toBeNull();
  });

  it('a fired rule of the retraining block gives the full evidence, with the defaults of the schema', () => {
    const policy = retraining();
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(12, 'recall_drop', '', null, 0.61, 0.72)] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, 'quality')).toEqual({
      model: 'fraud',
      modelVersion: 'v1',
      cohortId: 'cohort-w10',
      snapshotId: 7,
      checkpoint: 'P30D',
      policy: 'fraud-quality@1',
      alerts: [{ alertId: 12, rule: 'recall_drop', slice: 'overall', observed: 0.61, baseline: 0.72 }],
      verdict: 'quality',
      retrainOnLabeling: false,
      quietPeriod: 'P7D',
      quietPeriodMs: 604_800_000,
      hook: { webhook: { receiver: 'https://ml.example.com/retrain' } },
      every: 'P7D',
      labelDefinition: 'chargeback@1',
    });
  });

  it('only the rules the retraining block names ask for retraining', () => {
    const policy = retraining({ rules: ['recall_drop', 'labels_late'] });
    const fired = [
      { rule: ruleOf(policy, 'score_shift'), alerts: [alert(1, 'score_shift')] },
      { rule: ruleOf(policy, 'recall_drop'), alerts: [alert(2, 'recall_drop')] },
      { rule: ruleOf(policy, 'calibration'), alerts: [alert(3, 'calibration')] },
      { rule: ruleOf(policy, 'labels_late'), alerts: [alert(4, 'labels_late')] },
    ];
    const evidence = retrainingEvidence(policy, record, snapshot, fired, 'quality');
    expect(evidence?.alerts.map((a) => [a.alertId, a.rule])).toEqual([
      [2, 'recall_drop'],
      [4, 'labels_late'],
    ]);
  });

  it('evidence carries every alert of the asking rules with its slice label', () => {
    const policy = retraining({ rules: ['recall_drop', 'calibration'] });
    const fired = [
      {
        rule: ruleOf(policy, 'recall_drop'),
        alerts: [alert(21, 'recall_drop', '', null, 0.6, 0.7), alert(22, 'recall_drop', 'region', 'eu', 0.5, 0.75)],
      },
      {
        rule: ruleOf(policy, 'calibration'),
        alerts: [alert(23, 'calibration', 'segment.tier', null, 0.09, null), alert(24, 'calibration', 'model_version', 'v1', null, 0.02)],
      },
    ];
    expect(retrainingEvidence(policy, record, snapshot, fired, 'quality')?.alerts).toEqual([
      { alertId: 21, rule: 'recall_drop', slice: 'overall', observed: 0.6, baseline: 0.7 },
      { alertId: 22, rule: 'recall_drop', slice: 'region=eu', observed: 0.5, baseline: 0.75 },
      { alertId: 23, rule: 'calibration', slice: 'segment.tier=null', observed: 0.09, baseline: null },
      { alertId: 24, rule: 'calibration', slice: 'model_version=v1', observed: null, baseline: 0.02 },
    ]);
  });

  it('an alert id read as a string (a bigint column) becomes a number', () => {
    const policy = retraining();
    const asString = { ...alert(0, 'recall_drop'), alert_id: '9007' as unknown as number };
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [asString] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, 'quality')?.alerts[0]?.alertId).toBe(9007);
  });

  it('without a snapshot the evidence names none', () => {
    const policy = retraining();
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(5, 'recall_drop')] }];
    const evidence = retrainingEvidence(policy, record, null, fired, null);
    expect(evidence?.snapshotId).toBeNull();
    expect(evidence?.checkpoint).toBeNull();
    expect(evidence?.verdict).toBeNull();
  });

  it('the verdict and retrain_on_labeling travel with the evidence: a labeling verdict does not withhold it', () => {
    const fired = (policy: MonitoringPolicy) => [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(5, 'recall_drop')] }];
    const plain = retraining();
    const labeling = retrainingEvidence(plain, record, snapshot, fired(plain), 'labeling');
    expect(labeling?.verdict).toBe('labeling');
    expect(labeling?.retrainOnLabeling).toBe(false);
    const overriding = retraining({ retrain_on_labeling: true });
    expect(retrainingEvidence(overriding, record, snapshot, fired(overriding), 'both')?.retrainOnLabeling).toBe(true);
  });

  it('a fixed quiet period counts its exact length', () => {
    const quiet = (quiet_period: string) => {
      const policy = retraining({ quiet_period });
      const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(1, 'recall_drop')] }];
      const evidence = retrainingEvidence(policy, record, snapshot, fired, null);
      return [evidence?.quietPeriod, evidence?.quietPeriodMs];
    };
    expect(quiet('PT1H')).toEqual(['PT1H', 3_600_000]);
    expect(quiet('PT30M')).toEqual(['PT30M', 1_800_000]);
    expect(quiet('P1DT12H')).toEqual(['P1DT12H', 129_600_000]);
    expect(quiet('P2W')).toEqual(['P2W', 1_209_600_000]);
  });

  it('a calendar quiet period (P1M) counts its shortest length', () => {
    const quietMs = (quiet_period: string) => {
      const policy = retraining({ quiet_period });
      const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(1, 'recall_drop')] }];
      return retrainingEvidence(policy, record, snapshot, fired, null)?.quietPeriodMs;
    };
    expect(quietMs('P1M')).toBe(28 * DAY_MS);
    expect(quietMs('P1M')).toBe(2_419_200_000);
    expect(quietMs('P1Y')).toBe(365 * DAY_MS);
    expect(quietMs('P1M2DT6H')).toBe(30 * DAY_MS + 21_600_000);
  });

  it("the evidence names the hook's receiver only: its URL and headers stay with the policy (they travel in signals and histories)", () => {
    const webhook = {
      url: 'https://ml.example.com/retrain',
      headers: { 'X-Team': 'risk' },
      headers_from_env: { Authorization: 'ML_TOKEN' },
    };
    const policy = retraining({ hook: { webhook } });
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(1, 'recall_drop')] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, null)?.hook).toEqual({
      webhook: { receiver: 'https://ml.example.com/retrain' },
    });
    const fromEnv = retraining({ hook: { webhook: { url_from_env: 'ML_HOOK_URL' } } });
    expect(retrainingEvidence(fromEnv, record, snapshot, fired, null)?.hook).toEqual({ webhook: { receiver: '$ML_HOOK_URL' } });
  });

  it('a workflow hook travels as the policy gives it', () => {
    const policy = retraining({ hook: { workflow: { type: 'retrainModel', task_queue: 'ml-training' } } });
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(1, 'recall_drop')] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, null)?.hook).toEqual({
      workflow: { type: 'retrainModel', task_queue: 'ml-training' },
    });
  });

  it("the retraining block's every names the new schedule's period", () => {
    const policy = retraining({ every: 'P1D' });
    const fired = [{ rule: ruleOf(policy, 'recall_drop'), alerts: [alert(1, 'recall_drop')] }];
    expect(retrainingEvidence(policy, record, snapshot, fired, null)?.every).toBe('P1D');
  });
});

/* Folded in from test/unit/monitoring-recalibration-request.test.ts (cases and names kept). */
describe('a calibration alert asks for recalibration', () => {
  const policyWith = (recalibration: Record<string, unknown>) =>
    policySchema.parse({
      name: 'p',
      version: 1,
      model_name: 'fraud',
      label_definition: 'chargeback',
      rules: [{ name: 'calibration', kind: 'ceiling', metric: 'ece', max: 0.05 }],
      recalibration: { rules: ['calibration'], ...recalibration },
    });
  const policy = policyWith({ train_periods: 3 });
  const fired = [{ rule: policy.rules[0]!, alerts: [{ alert_id: 41 }] }];

  it('asks once per alert, with the periods and method of the policy', () => {
    expect(recalibrationRequest(policy, record, fired, 'quality')).toEqual({
      model: 'fraud',
      modelVersion: 'v1',
      cohortId: 'cohort-w10',
      labelDefinition: 'chargeback@1',
      requireApproval: false,
      method: 'auto',
      every: 'P7D',
      everyMs: 7 * 86400_000,
      trainPeriods: 3,
      holdoutPeriods: 1,
      rules: ['calibration'],
      alertId: 41,
    });
    expect(recalibrationRequest(policy, record, fired, null)).not.toBeNull();
  });

  it('does not recalibrate on a label outage unless the policy says so', () => {
    expect(recalibrationRequest(policy, record, fired, 'labeling')).toBeNull();
    expect(recalibrationRequest(policy, record, fired, 'both')).not.toBeNull();
    expect(recalibrationRequest(policyWith({ recalibrate_on_labeling: true }), record, fired, 'labeling')).not.toBeNull();
  });
});

describe('recalibrationRequest', () => {
  const recalibration = (fields: Record<string, unknown> = {}) => policyOf({ recalibration: { rules: ['calibration'], ...fields } });
  const firedOf = (policy: MonitoringPolicy, ...entries: Array<[string, number[]]>) =>
    entries.map(([name, ids]) => ({ rule: ruleOf(policy, name), alerts: ids.map((id) => ({ alert_id: id })) }));

  it('no recalibration block: no request', () => {
    const policy = policyOf({ retraining: { rules: ['calibration'], hook: WEBHOOK } });
    expect(recalibrationRequest(policy, record, firedOf(policy, ['calibration', [41]]), 'quality')).toBeNull();
  });

  it('no request when none of the fired rules is named by the recalibration block', () => {
    const policy = recalibration();
    expect(recalibrationRequest(policy, record, [], 'quality')).toBeNull();
    expect(recalibrationRequest(policy, record, firedOf(policy, ['recall_drop', [1]], ['score_shift', [2]]), 'quality')).toBeNull();
  });

  it('the recalibration is skipped when the diagnosis blames the labels alone unless recalibrate_on_labeling', () => {
    const skipping = recalibration();
    expect(recalibrationRequest(skipping, record, firedOf(skipping, ['calibration', [41]]), 'labeling')).toBeNull();
    const explicit = recalibration({ recalibrate_on_labeling: false });
    expect(recalibrationRequest(explicit, record, firedOf(explicit, ['calibration', [41]]), 'labeling')).toBeNull();
    for (const verdict of ['quality', 'both', 'none', null]) {
      expect(recalibrationRequest(skipping, record, firedOf(skipping, ['calibration', [41]]), verdict)?.alertId).toBe(41);
    }
    const overriding = recalibration({ recalibrate_on_labeling: true });
    expect(recalibrationRequest(overriding, record, firedOf(overriding, ['calibration', [41]]), 'labeling')?.alertId).toBe(41);
  });

  it('only the rules the recalibration block names ask, in the order they fired', () => {
    const policy = recalibration({ rules: ['calibration', 'recall_drop'] });
    const fired = firedOf(policy, ['score_shift', [7]], ['recall_drop', [12, 13]], ['labels_late', [15]], ['calibration', [20]]);
    expect(recalibrationRequest(policy, record, fired, 'quality')?.rules).toEqual(['recall_drop', 'calibration']);
  });

  it("the first asking alert's id keys the request", () => {
    const policy = recalibration({ rules: ['calibration', 'recall_drop'] });
    const fired = firedOf(policy, ['score_shift', [7]], ['recall_drop', [12, 13]], ['calibration', [20]]);
    expect(recalibrationRequest(policy, record, fired, 'quality')?.alertId).toBe(12);
    const asString = [{ rule: ruleOf(policy, 'calibration'), alerts: [{ alert_id: '9007' as unknown as number }] }];
    expect(recalibrationRequest(policy, record, asString, 'quality')?.alertId).toBe(9007);
  });

  it("the policy's method, approval and periods travel with the request", () => {
    const policy = recalibration({ method: 'isotonic', require_approval: true, every: 'P14D', train_periods: 8, holdout_periods: 2 });
    expect(recalibrationRequest(policy, record, firedOf(policy, ['calibration', [41]]), 'quality')).toEqual({
      model: 'fraud',
      modelVersion: 'v1',
      cohortId: 'cohort-w10',
      labelDefinition: 'chargeback@1',
      requireApproval: true,
      method: 'isotonic',
      every: 'P14D',
      everyMs: 1_209_600_000,
      trainPeriods: 8,
      holdoutPeriods: 2,
      rules: ['calibration'],
      alertId: 41,
    });
  });

  it('a fixed period counts its exact length, a calendar one (P1M) its shortest', () => {
    const everyMs = (every: string) => {
      const policy = recalibration({ every });
      return recalibrationRequest(policy, record, firedOf(policy, ['calibration', [41]]), 'quality')?.everyMs;
    };
    expect(everyMs('PT12H')).toBe(43_200_000);
    expect(everyMs('P1D')).toBe(DAY_MS);
    expect(everyMs('P1M')).toBe(28 * DAY_MS);
    expect(everyMs('P1M')).toBe(2_419_200_000);
    expect(everyMs('P1Y')).toBe(31_536_000_000);
  });
});
