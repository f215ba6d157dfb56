import { describe, expect, it } from 'vitest';
import type { CohortRecord } from '../../contracts/cohort';
import { recalibrationRequest } from '../../activities/monitoring/actions';
import { policySchema } from '../../activities/monitoring/policy';

const record: CohortRecord = {
  cohort_id: 'cohort-w10', model_name: 'fraud', model_version: 'v1', environment: null,
  start: '2026-08-03T00:00:00.000Z', end: '2026-08-10T00:00:00.000Z', label_definition_name: 'chargeback', label_definition_version: 1,
};
const policyWith = (recalibration: Record<string, unknown>) =>
  policySchema.parse({
    name: 'p', version: 1, model_name: 'fraud', label_definition: 'chargeback',
    rules: [{ name: 'calibration', kind: 'ceiling', metric: 'ece', max: 0.05 }],
    recalibration: { rules: ['calibration'], ...recalibration },
  });

describe('a calibration alert asks for recalibration', () => {
  const policy = policyWith({ train_periods: 3 });
  const fired = [{ rule: policy.rules[0]!, alerts: [{ alert_id: 41 }] }];

  it('asks once per alert, with the periods and method of the policy', () => {
    expect(recalibrationRequest(policy, record, fired, 'quality')).toEqual({
      model: 'fraud', modelVersion: 'v1', cohortId: 'cohort-w10', labelDefinition: 'chargeback@1', requireApproval: false,
      method: 'auto', every: 'P7D', everyMs: 7 * 86400_000, trainPeriods: 3, holdoutPeriods: 1, rules: ['calibration'], alertId: 41,
    });
    expect(recalibrationRequest(policy, record, fired, null)).not.toBeNull();
  });

  it('does not recalibrate on a label outage unless the policy says so', () => {
    expect(recalibrationRequest(policy, record, fired, 'labeling')).toBeNull();
    expect(recalibrationRequest(policy, record, fired, 'both')).not.toBeNull();
    expect(recalibrationRequest(policyWith({ recalibrate_on_labeling: true }), record, fired, 'labeling')).not.toBeNull();
  });
});
