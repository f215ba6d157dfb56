import { describe, expect, it } from 'vitest';
import { judgeRule, measure, poolBaseline, type GroupInput, type JudgedRule, type Measured } from '../../../activities/monitoring/judge';
import { policySchema } from '../../../activities/monitoring/policy';
import type { BinaryMetrics, RegressionMetrics } from '../../../stats/finish-metrics';
import { Z95 } from '../../../stats/statistics';

/*
 * Expected p-values and intervals below were computed by hand from the formulas (docs/alerts.md)
 * with an independent implementation: Φ(z) = erfc(−z/√2)/2, the pooled two-proportion z-test,
 * the one-proportion score test, Wilson/Newcombe intervals and the Hanley–McNeil SE of an AUC.
 */

/** A rule as a stored policy gives it: parsed by the policy schema, so its defaults apply. */
function rule<K extends JudgedRule['kind']>(raw: { kind: K } & Record<string, unknown>): Extract<JudgedRule, { kind: K }> {
  const policy = policySchema.parse({ name: 'p', version: 1, model_name: 'm', label_definition: 'd', rules: [{ name: 'r', ...raw }] });
  return policy.rules[0] as Extract<JudgedRule, { kind: K }>;
}

/** A proportion x/n with its counts. */
const prop = (x: number, n: number, value = x / n): Measured => ({ value, sample: { kind: 'proportion', x, n } });
/** A value the snapshot gives no sample for. */
const bare = (value: number | null): Measured => ({ value, sample: null });
/** A value with a 95% interval of standard error `se`. */
const withSe = (value: number, se: number): Measured => ({
  value,
  sample: { kind: 'interval', low: value - Z95 * se, high: value + Z95 * se },
});
const auc = (value: number, positives: number, negatives: number): Measured => ({ value, sample: { kind: 'auc', positives, negatives } });

const overall = (observed: Measured, baseline?: Measured, n = 10_000): GroupInput => ({
  dimension: '',
  value: null,
  n,
  observed,
  ...(baseline ? { baseline } : {}),
});
const slice = (value: string | null, n: number, observed: Measured, baseline?: Measured): GroupInput => ({
  dimension: 'region',
  value,
  n,
  observed,
  ...(baseline ? { baseline } : {}),
});

function binary(fields: Partial<BinaryMetrics>): BinaryMetrics {
  return {
    n: 0,
    n_labeled: 0,
    n_final: 0,
    n_positive: 0,
    label_availability: null,
    base_rate: null,
    mean_score: null,
    roc_auc: null,
    pr_auc: null,
    brier: null,
    log_loss: null,
    ece: null,
    ks: null,
    precision: null,
    recall: null,
    f1: null,
    total_cost: null,
    expected_cost: null,
    value_caught: 0,
    value_missed: 0,
    calibration: { uniform: [], quantile: [] },
    calibration_deciles: [],
    threshold_curve: [],
    undefined_metrics: {},
    ...fields,
  };
}

function regression(fields: Partial<RegressionMetrics>): RegressionMetrics {
  return {
    n: 0,
    n_labeled: 0,
    n_final: 0,
    label_availability: null,
    mean_score: null,
    mean_target: null,
    mae: null,
    rmse: null,
    bias: null,
    r2: null,
    undefined_metrics: {},
    ...fields,
  };
}

describe('measure: the counts behind a snapshot metric', () => {
  const metrics = binary({
    n: 200,
    n_labeled: 100,
    n_final: 150,
    n_positive: 40,
    recall: 0.625,
    precision: 0.5,
    base_rate: 0.4,
    roc_auc: 0.83,
    brier: 0.1,
  });

  it('recall is a proportion of the positives: round(recall × positives) of n_positive', () => {
    expect(measure(metrics, 'recall')).toEqual({ value: 0.625, sample: { kind: 'proportion', x: 25, n: 40 } });
    // 0.333 × 3 = 0.999 rounds to 1 caught positive.
    expect(measure(binary({ n_labeled: 10, n_positive: 3, recall: 0.333 }), 'recall').sample).toEqual({ kind: 'proportion', x: 1, n: 3 });
  });

  it('recall with no positive labels has a value but no sample', () => {
    expect(measure(binary({ n_labeled: 10, n_positive: 0, recall: 0 }), 'recall')).toEqual({ value: 0, sample: null });
  });

  it('precision recovers the flagged count from recall: tp = 25 of 25 / 0.5 = 50 flagged', () => {
    expect(measure(metrics, 'precision')).toEqual({ value: 0.5, sample: { kind: 'proportion', x: 25, n: 50 } });
  });

  it('precision has no sample when recall is null or precision is 0 (the flagged count cannot be recovered)', () => {
    const noRecall = binary({ n_labeled: 10, n_positive: 4, precision: 0.5, recall: null });
    expect(measure(noRecall, 'precision')).toEqual({ value: 0.5, sample: null });
    expect(measure(binary({ n_labeled: 10, n_positive: 4, precision: 0, recall: 0 }), 'precision')).toEqual({ value: 0, sample: null });
  });

  it('base_rate is n_positive of n_labeled', () => {
    expect(measure(metrics, 'base_rate')).toEqual({ value: 0.4, sample: { kind: 'proportion', x: 40, n: 100 } });
  });

  it('roc_auc carries its class counts, and none when a class is empty', () => {
    expect(measure(metrics, 'roc_auc')).toEqual({ value: 0.83, sample: { kind: 'auc', positives: 40, negatives: 60 } });
    expect(measure(binary({ n_labeled: 10, n_positive: 10, roc_auc: 0.5 }), 'roc_auc')).toEqual({ value: 0.5, sample: null });
    expect(measure(binary({ n_labeled: 10, n_positive: 0, roc_auc: 0.5 }), 'roc_auc')).toEqual({ value: 0.5, sample: null });
  });

  it('label_availability is n_final of n, for binary and regression snapshots alike', () => {
    expect(measure(binary({ n: 200, n_final: 150, label_availability: 0.75 }), 'label_availability')).toEqual({
      value: 0.75,
      sample: { kind: 'proportion', x: 150, n: 200 },
    });
    expect(measure(regression({ n: 80, n_final: 20, label_availability: 0.25 }), 'label_availability')).toEqual({
      value: 0.25,
      sample: { kind: 'proportion', x: 20, n: 80 },
    });
  });

  it('metrics without counts (brier, regression errors) have a value and no sample', () => {
    expect(measure(metrics, 'brier')).toEqual({ value: 0.1, sample: null });
    expect(measure(regression({ n: 50, n_labeled: 50, mae: 1.5 }), 'mae')).toEqual({ value: 1.5, sample: null });
  });

  it('a null, NaN, infinite or absent metric has neither value nor sample', () => {
    expect(measure(binary({ n_labeled: 10, n_positive: 4, recall: null }), 'recall')).toEqual({ value: null, sample: null });
    expect(measure(binary({ n_labeled: 10, n_positive: 4, recall: Number.NaN }), 'recall')).toEqual({ value: null, sample: null });
    expect(measure(binary({ brier: Number.POSITIVE_INFINITY }), 'brier')).toEqual({ value: null, sample: null });
    expect(measure(regression({ mae: 1 }), 'recall')).toEqual({ value: null, sample: null });
    // Zero counts: an empty cohort has no label availability.
    expect(measure(binary({ n: 0, n_final: 0, label_availability: null }), 'label_availability')).toEqual({ value: null, sample: null });
  });
});

describe('poolBaseline: the mean of the baseline groups and their pooled sample', () => {
  it('nothing to pool gives no value', () => {
    expect(poolBaseline([])).toEqual({ value: null, sample: null });
    expect(poolBaseline([bare(null), bare(null)])).toEqual({ value: null, sample: null });
  });

  it('the value is the unweighted mean while proportion counts are added', () => {
    const pooled = poolBaseline([prop(80, 100), prop(120, 200)]);
    expect(pooled.value).toBeCloseTo(0.7, 12);
    expect(pooled.sample).toEqual({ kind: 'proportion', x: 200, n: 300 });
  });

  it('AUC samples add their classes', () => {
    const pooled = poolBaseline([auc(0.8, 10, 90), auc(0.7, 30, 70)]);
    expect(pooled.value).toBeCloseTo(0.75, 12);
    expect(pooled.sample).toEqual({ kind: 'auc', positives: 40, negatives: 160 });
  });

  it('a missing value is left out of the mean but leaves the pool without a sample', () => {
    expect(poolBaseline([prop(80, 100), bare(null)])).toEqual({ value: 0.8, sample: null });
  });

  it('one group without a sample, or samples of different kinds, give the mean and no sample', () => {
    expect(poolBaseline([prop(80, 100), bare(0.6)]).sample).toBeNull();
    const mixed = poolBaseline([prop(80, 100), auc(0.6, 10, 10)]);
    expect(mixed.value).toBeCloseTo(0.7, 12);
    expect(mixed.sample).toBeNull();
  });

  it('an interval is kept for one group and dropped for several (intervals do not pool)', () => {
    const one = withSe(0.5, 0.1);
    expect(poolBaseline([one])).toEqual(one);
    expect(poolBaseline([one, withSe(0.7, 0.1)])).toEqual({ value: 0.6, sample: null });
  });
});

describe('judgeRule: relative_drop', () => {
  const recallRule = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.2, slices: ['region'], min_slice_size: 10 });

  it('the same 25% recall drop fires overall and in a slice of 30,000, but the gate holds it back in a slice of 30', () => {
    const result = judgeRule(recallRule, [
      overall(prop(9009, 15_015), prop(12_012, 15_015), 30_030),
      slice('large', 30_000, prop(9000, 15_000), prop(12_000, 15_000)),
      slice('small', 30, prop(9, 15), prop(12, 15)),
    ]);
    expect(result.map((j) => [j.dimension, j.value, j.n, j.verdict])).toEqual([
      ['', null, 30_030, 'fire'],
      ['region', 'large', 30_000, 'fire'],
      ['region', 'small', 30, 'clear'],
    ]);

    const large = result[1]!;
    expect(large).toMatchObject({ observed: 0.6, baseline: 0.8 });
    expect(large.relative_change).toBeCloseTo(0.25, 12);
    expect(large.p_value).toBeLessThan(1e-12);
    expect(large.interval!.low).toBeCloseTo(-0.2100918, 6);
    expect(large.interval!.high).toBeCloseTo(-0.1898507, 6);
    expect(large.reason).toMatch(/^recall 0\.6 against 0\.8: 25\.0% worse \(allowed 20\.0%\); p = .+, a discovery at FDR 0\.05$/);

    // Pooled z = −0.2 / √(0.7·0.3·(2/15)) = −1.1952, p = Φ(−1.1952) = 0.11600; Newcombe interval −0.4750 to 0.1227.
    const small = result[2]!;
    expect(small.relative_change).toBeCloseTo(0.25, 12);
    expect(small.p_value).toBeCloseTo(0.1159989, 6);
    expect(small.interval!.low).toBeCloseTo(-0.4749513, 6);
    expect(small.interval!.high).toBeCloseTo(0.1227008, 6);
    expect(small.reason).toBe(
      'not significant: recall 0.6 against 0.8: 25.0% worse (allowed 20.0%); p = 0.116 is no discovery at FDR 0.05',
    );
  });

  it('a relative drop below max_drop does not fire, however significant', () => {
    const [j] = judgeRule(recallRule, [overall(prop(10_500, 15_000), prop(12_000, 15_000))]);
    expect(j!.verdict).toBe('clear');
    expect(j!.relative_change).toBeCloseTo(0.125, 12);
    expect(j!.p_value).toBeLessThan(1e-6);
    expect(j!.reason).toMatch(/^within bounds: recall 0\.7 against 0\.8: 12\.5% worse \(allowed 20\.0%\)/);
  });

  it('a drop of exactly max_drop fires (0.5 → 0.375 is a 25% drop against max_drop 0.25)', () => {
    const [j] = judgeRule(rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.25 }), [overall(prop(375, 1000), prop(500, 1000))]);
    expect(j!.relative_change).toBe(0.25);
    expect(j!.verdict).toBe('fire');
    // Pooled z = −0.125 / √(0.4375·0.5625·0.002) = −5.6344.
    expect(j!.p_value).toBeCloseTo(8.785395e-9, 13);
    expect(j!.interval!.low).toBeCloseTo(-0.1677246, 6);
    expect(j!.interval!.high).toBeCloseTo(-0.0816099, 6);
    expect(j!.reason).toBe('recall 0.375 against 0.5: 25.0% worse (allowed 25.0%); p = 8.79e-9, a discovery at FDR 0.05');
  });

  it('an improvement is clear, with a negative relative change and a p-value near 1', () => {
    const [j] = judgeRule(recallRule, [overall(prop(900, 1000), prop(800, 1000))]);
    expect(j!.verdict).toBe('clear');
    expect(j!.relative_change).toBeCloseTo(-0.125, 12);
    expect(j!.p_value).toBeGreaterThan(0.99);
    expect(j!.reason).toBe('within bounds: recall 0.9 against 0.8: -12.5% worse (allowed 20.0%)');
  });

  it('for a lower-is-better metric (brier) a rise is the worsening, and a fall is clear', () => {
    const brier = rule({ kind: 'relative_drop', metric: 'brier', max_drop: 0.1 });
    const [rise, fall] = judgeRule(brier, [overall(bare(0.15), bare(0.12)), overall(bare(0.1), bare(0.12))]);
    expect(rise!.relative_change).toBeCloseTo(0.25, 12);
    expect(rise!.verdict).toBe('fire');
    expect(fall!.relative_change).toBeCloseTo(-1 / 6, 12);
    expect(fall!.verdict).toBe('clear');
  });

  it('for a lower-is-better metric the gate tests the upper side: brier 0.15 ± se 0.01 against 0.12 has p = 1 − Φ(3)', () => {
    const [j] = judgeRule(rule({ kind: 'relative_drop', metric: 'brier', max_drop: 0.1 }), [overall(withSe(0.15, 0.01), bare(0.12))]);
    expect(j!.p_value).toBeCloseTo(0.0013499, 6);
    expect(j!.interval!.low).toBeCloseTo(0.03 - Z95 * 0.01, 9);
    expect(j!.interval!.high).toBeCloseTo(0.03 + Z95 * 0.01, 9);
    expect(j!.verdict).toBe('fire');
    expect(j!.reason).toBe('brier 0.15 against 0.12: 25.0% worse (allowed 10.0%); p = 0.00135, a discovery at FDR 0.05');
  });

  it('a candidate without any sample fires on the bound alone, with no interval or p-value', () => {
    const [j] = judgeRule(rule({ kind: 'relative_drop', metric: 'brier', max_drop: 0.1 }), [overall(bare(0.15), bare(0.12))]);
    expect(j).toMatchObject({ verdict: 'fire', interval: null, p_value: null });
    expect(j!.reason).toBe('brier 0.15 against 0.12: 25.0% worse (allowed 10.0%) (no interval: judged on the bound alone)');
  });

  it('a baseline without a sample is taken as exact: only the observed 9/15 counts, p = Φ(−1.5811) = 0.0569', () => {
    const [j] = judgeRule(recallRule, [overall(prop(9, 15), bare(0.8))]);
    expect(j!.p_value).toBeCloseTo(0.0569231, 6);
    expect(j!.interval!.low).toBeCloseTo(-0.447918, 6);
    expect(j!.interval!.high).toBeCloseTo(0.047918, 6);
    expect(j!.verdict).toBe('clear');
    expect(j!.reason).toMatch(/^not significant: .*p = 0\.0569 is no discovery/);
  });

  it('an observed value without a sample gives no test even when the baseline has one, so it fires on the bound alone', () => {
    const [j] = judgeRule(recallRule, [overall(bare(0.6), prop(12_000, 15_000))]);
    expect(j).toMatchObject({ verdict: 'fire', p_value: null, interval: null });
    expect(j!.reason).toMatch(/\(no interval: judged on the bound alone\)$/);
  });

  it('zero counts: a proportion sample with n = 0 gives no test (observed or baseline side)', () => {
    const zeroObserved = overall({ value: 0.5, sample: { kind: 'proportion', x: 0, n: 0 } }, prop(800, 1000));
    const zeroBaseline = overall(prop(500, 1000), { value: 0.8, sample: { kind: 'proportion', x: 0, n: 0 } });
    for (const j of judgeRule(recallRule, [zeroObserved, zeroBaseline])) {
      expect(j).toMatchObject({ verdict: 'fire', p_value: null, interval: null });
    }
  });

  it('a baseline of 0 is suppressed: a relative change is undefined', () => {
    const [j] = judgeRule(recallRule, [overall(prop(5, 100), prop(0, 100))]);
    expect(j).toMatchObject({ verdict: 'suppressed', baseline: 0, relative_change: null, p_value: null, interval: null });
    expect(j!.reason).toBe('the baseline is 0, so a relative change is undefined');
  });

  it('a missing baseline, or one without a value, is suppressed', () => {
    const result = judgeRule(recallRule, [overall(prop(9, 15)), overall(prop(9, 15), bare(null))]);
    for (const j of result) {
      expect(j).toMatchObject({ verdict: 'suppressed', observed: 0.6, baseline: null, reason: 'no baseline value for this group' });
    }
  });

  it('a null observed metric is suppressed and names the metric', () => {
    const [j] = judgeRule(recallRule, [overall(bare(null), prop(12, 15))]);
    expect(j).toMatchObject({ verdict: 'suppressed', observed: null, baseline: 0.8, reason: 'no recall for this group', p_value: null });
  });
});

describe('judgeRule: slices and min_slice_size', () => {
  const drop = { observed: prop(600, 1000), baseline: prop(800, 1000) };
  const sliced = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.2, slices: ['region'], min_slice_size: 100 });

  it('a slice smaller than min_slice_size is skipped, one of exactly min_slice_size is judged', () => {
    const [under, at] = judgeRule(sliced, [slice('eu', 99, drop.observed, drop.baseline), slice('us', 100, drop.observed, drop.baseline)]);
    expect(under).toMatchObject({ verdict: 'suppressed', n: 99, p_value: null, interval: null });
    expect(under!.reason).toBe('99 predictions, fewer than min_slice_size 100');
    expect(under!.relative_change).toBeNull();
    expect(at!.verdict).toBe('fire');
  });

  it('min_slice_size applies to slices only: a small overall group is still judged', () => {
    const [j] = judgeRule(sliced, [overall(drop.observed, drop.baseline, 5)]);
    expect(j!.verdict).toBe('fire');
  });

  it('a small slice is suppressed before its metrics are looked at', () => {
    const [j] = judgeRule(sliced, [slice('eu', 3, bare(null))]);
    expect(j!.reason).toBe('3 predictions, fewer than min_slice_size 100');
  });

  it('the policy defaults apply: min_slice_size 100 and an FDR of 0.05', () => {
    const defaults = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.2 });
    expect(defaults).toMatchObject({ min_slice_size: 100, alpha: 0.05, severity: 'warning', baseline: { kind: 'previous' } });
    const [j] = judgeRule(defaults, [slice('eu', 99, drop.observed, drop.baseline)]);
    expect(j!.verdict).toBe('suppressed');
  });

  it('groups come back in input order with their dimension, value (null slice values included) and n', () => {
    const result = judgeRule(sliced, [
      slice(null, 500, drop.observed, drop.baseline),
      overall(drop.observed, drop.baseline, 700),
      slice('eu', 300, prop(790, 1000), drop.baseline),
    ]);
    expect(result.map((j) => ({ dimension: j.dimension, value: j.value, n: j.n }))).toEqual([
      { dimension: 'region', value: null, n: 500 },
      { dimension: '', value: null, n: 700 },
      { dimension: 'region', value: 'eu', n: 300 },
    ]);
  });

  it('no groups, no judgements', () => {
    expect(judgeRule(sliced, [])).toEqual([]);
  });
});

describe('judgeRule: the Benjamini–Hochberg gate across groups', () => {
  const gated = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.1, slices: ['region'], min_slice_size: 10 });
  // 0.71 ± 0.05 against an exact 0.8: z = −1.8, p = Φ(−1.8) = 0.035930; an 11.25% drop.
  const borderline = overall(withSe(0.71, 0.05), bare(0.8));
  // 0.82 ± 0.05 against 0.8: z = 0.4, p = Φ(0.4) = 0.655422; no drop at all.
  const steady = slice('steady', 1000, withSe(0.82, 0.05), bare(0.8));

  it('a lone candidate with p = 0.0359 is a discovery at FDR 0.05', () => {
    const [j] = judgeRule(gated, [borderline]);
    expect(j!.relative_change).toBeCloseTo(0.1125, 12);
    expect(j!.p_value).toBeCloseTo(0.0359303, 6);
    expect(j!.interval!.low).toBeCloseTo(-0.09 - Z95 * 0.05, 9);
    expect(j!.interval!.high).toBeCloseTo(-0.09 + Z95 * 0.05, 9);
    expect(j!.verdict).toBe('fire');
    expect(j!.reason).toBe('recall 0.71 against 0.8: 11.3% worse (allowed 10.0%); p = 0.0359, a discovery at FDR 0.05');
  });

  it('the Benjamini–Hochberg gate holds back a drop that is noise: a clear tested group makes m = 2 and 0.0359 > 0.05/2', () => {
    const [candidate, other] = judgeRule(gated, [borderline, steady]);
    expect(other!.verdict).toBe('clear');
    expect(other!.p_value).toBeCloseTo(0.6554217, 6);
    expect(other!.reason).toMatch(/^within bounds: /);
    expect(candidate!.verdict).toBe('clear');
    expect(candidate!.reason).toBe(
      'not significant: recall 0.71 against 0.8: 11.3% worse (allowed 10.0%); p = 0.0359 is no discovery at FDR 0.05',
    );
  });

  it('a suppressed slice is no test: it does not raise m', () => {
    const small = slice('small', 5, withSe(0.82, 0.05), bare(0.8));
    const [candidate, suppressed] = judgeRule(gated, [borderline, small]);
    expect(suppressed!.verdict).toBe('suppressed');
    expect(candidate!.verdict).toBe('fire');
  });

  it('a group without a p-value is no test: it does not raise m', () => {
    const [candidate, untested] = judgeRule(gated, [borderline, slice('bare', 1000, bare(0.82), bare(0.8))]);
    expect(untested).toMatchObject({ verdict: 'clear', p_value: null });
    expect(candidate!.verdict).toBe('fire');
  });

  it('the step-up rule: p = 0.0301 and 0.0401 are both discoveries at m = 2, since 0.0401 ≤ 2·0.05/2', () => {
    // z = −0.094/0.05 = −1.88 and −0.0875/0.05 = −1.75.
    const a = slice('a', 1000, withSe(0.706, 0.05), bare(0.8));
    const b = slice('b', 1000, withSe(0.7125, 0.05), bare(0.8));
    const result = judgeRule(gated, [a, b]);
    expect(result[0]!.p_value).toBeCloseTo(0.030054, 6);
    expect(result[1]!.p_value).toBeCloseTo(0.0400592, 6);
    expect(result.map((j) => j.verdict)).toEqual(['fire', 'fire']);
    // A third, clear group makes m = 3: 0.0301 > 0.05/3, 0.0401 > 2·0.05/3, 0.655 > 0.05, so none is a discovery.
    expect(judgeRule(gated, [a, b, steady]).map((j) => j.verdict)).toEqual(['clear', 'clear', 'clear']);
  });

  it("the rule's alpha is the FDR: at alpha 0.01 the lone p = 0.0359 is no discovery", () => {
    const strict = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.1, alpha: 0.01 });
    const [j] = judgeRule(strict, [borderline]);
    expect(j!.verdict).toBe('clear');
    expect(j!.reason).toMatch(/p = 0\.0359 is no discovery at FDR 0\.01$/);
  });

  it('severity does not enter the judgement: an info and a critical rule judge the same groups alike', () => {
    const fields = { kind: 'relative_drop' as const, metric: 'recall', max_drop: 0.1, slices: ['region'], min_slice_size: 10 };
    const info = rule({ ...fields, severity: 'info' });
    const critical = rule({ ...fields, severity: 'critical' });
    const groups = [borderline, steady];
    expect(judgeRule(info, groups)).toEqual(judgeRule(critical, groups));
    expect(judgeRule(info, [borderline])[0]).not.toHaveProperty('severity');
  });
});

describe('judgeRule: estimated_drop and projected_drop judge like relative_drop', () => {
  it('estimated_drop on roc_auc: 0.80 → 0.70 with the Hanley–McNeil SEs of both sides fires', () => {
    // SE(0.70; 200, 800) = 0.0222126, SE(0.80; 400, 1600) = 0.0139478; z = −0.1 / 0.0262286 = −3.8126.
    const estimated = rule({ kind: 'estimated_drop', metric: 'roc_auc', max_drop: 0.1 });
    const [j] = judgeRule(estimated, [overall(auc(0.7, 200, 800), auc(0.8, 400, 1600))]);
    expect(j!.relative_change).toBeCloseTo(0.125, 12);
    expect(j!.p_value).toBeCloseTo(6.874834e-5, 10);
    expect(j!.interval!.low).toBeCloseTo(-0.1514072, 6);
    expect(j!.interval!.high).toBeCloseTo(-0.0485928, 6);
    expect(j!.verdict).toBe('fire');
    expect(j!.reason).toBe('roc_auc 0.7 against 0.8: 12.5% worse (allowed 10.0%); p = 0.0000687, a discovery at FDR 0.05');
  });

  it('projected_drop on positive_rate: 0.12 → 0.08 of 1000 is a 33.3% drop with p = 0.00143', () => {
    const projected = rule({ kind: 'projected_drop', metric: 'positive_rate', max_drop: 0.2 });
    const [j] = judgeRule(projected, [overall(prop(80, 1000), prop(120, 1000))]);
    expect(j!.relative_change).toBeCloseTo(1 / 3, 12);
    expect(j!.p_value).toBeCloseTo(0.00143456, 7);
    expect(j!.interval!.low).toBeCloseTo(-0.0664495, 6);
    expect(j!.interval!.high).toBeCloseTo(-0.0137183, 6);
    expect(j!.verdict).toBe('fire');
    expect(j!.reason).toBe('positive_rate 0.08 against 0.12: 33.3% worse (allowed 20.0%); p = 0.00143, a discovery at FDR 0.05');
  });

  it('projected_drop without a baseline is suppressed', () => {
    const [j] = judgeRule(rule({ kind: 'projected_drop', metric: 'recall', max_drop: 0.2 }), [overall(prop(80, 1000))]);
    expect(j!.verdict).toBe('suppressed');
  });
});

describe('judgeRule: floor and ceiling', () => {
  const floor = rule({ kind: 'floor', metric: 'recall', min: 0.7 });

  it('recall 600/1000 below a floor of 0.7 fires; the bound is reported as the baseline', () => {
    // Score test: z = −0.1 / √(0.21/1000) = −6.9007; interval 0.6 ± 1.96·√(0.24/1000).
    const [j] = judgeRule(floor, [overall(prop(600, 1000))]);
    expect(j).toMatchObject({ verdict: 'fire', observed: 0.6, baseline: 0.7, relative_change: null });
    expect(j!.p_value).toBeCloseTo(2.5881545e-12, 17);
    expect(j!.interval!.low).toBeCloseTo(0.5696364, 6);
    expect(j!.interval!.high).toBeCloseTo(0.6303636, 6);
    expect(j!.reason).toBe('recall 0.6 below the floor 0.7; p = 2.59e-12, a discovery at FDR 0.05');
  });

  it('a value exactly at the floor does not fire', () => {
    const [j] = judgeRule(floor, [overall(prop(700, 1000))]);
    expect(j!.verdict).toBe('clear');
    expect(j!.p_value).toBeCloseTo(0.5, 6);
    expect(j!.reason).toBe('within bounds: recall 0.7 below the floor 0.7');
  });

  it('the gate holds back 6/10 below a floor of 0.7: p = Φ(−0.6901) = 0.245', () => {
    const [j] = judgeRule(floor, [overall(prop(6, 10))]);
    expect(j!.p_value).toBeCloseTo(0.2450765, 6);
    expect(j!.verdict).toBe('clear');
    expect(j!.reason).toBe('not significant: recall 0.6 below the floor 0.7; p = 0.245 is no discovery at FDR 0.05');
  });

  it('an AUC floor uses the Hanley–McNeil SE of the value: 0.70 on 50/150 against 0.75 has p = 0.135', () => {
    // SE(0.70; 50, 150) = 0.0454147; z = −0.05 / 0.0454147 = −1.1010.
    const [j] = judgeRule(rule({ kind: 'floor', metric: 'roc_auc', min: 0.75 }), [overall(auc(0.7, 50, 150))]);
    expect(j!.p_value).toBeCloseTo(0.1354561, 6);
    expect(j!.interval!.low).toBeCloseTo(0.6109888, 6);
    expect(j!.interval!.high).toBeCloseTo(0.7890112, 6);
    expect(j!.verdict).toBe('clear');
  });

  it('a floor of 1 falls back to the normal approximation of the value: 900/1000 against 1 fires', () => {
    // The score test would divide by √(1·0) = 0; instead z = −0.1 / √(0.09/1000) = −10.54.
    const [j] = judgeRule(rule({ kind: 'floor', metric: 'recall', min: 1 }), [overall(prop(900, 1000))]);
    expect(j!.p_value).toBeLessThan(1e-20);
    expect(j!.interval!.low).toBeCloseTo(0.9 - Z95 * Math.sqrt(0.09 / 1000), 9);
    expect(j!.verdict).toBe('fire');
  });

  it('a sample with zero variance (0 of 50 against a floor of 1) gives no test, so it fires on the bound alone', () => {
    const [j] = judgeRule(rule({ kind: 'floor', metric: 'label_availability', min: 1 }), [overall(prop(0, 50))]);
    expect(j).toMatchObject({ verdict: 'fire', p_value: null, interval: null });
    expect(j!.reason).toBe('label_availability 0 below the floor 1 (no interval: judged on the bound alone)');
  });

  it('a floor on a metric without a sample (r2) is judged on the bound alone', () => {
    const r2 = rule({ kind: 'floor', metric: 'r2', min: 0.5 });
    const [low, high] = judgeRule(r2, [overall(bare(0.3)), overall(bare(0.6))]);
    expect(low).toMatchObject({ verdict: 'fire', reason: 'r2 0.3 below the floor 0.5 (no interval: judged on the bound alone)' });
    expect(high).toMatchObject({ verdict: 'clear', reason: 'within bounds: r2 0.6 below the floor 0.5' });
  });

  it('floor and ceiling need no baseline, and a null value is still suppressed', () => {
    const [j] = judgeRule(floor, [overall(bare(null))]);
    expect(j).toMatchObject({ verdict: 'suppressed', reason: 'no recall for this group', baseline: null });
  });

  it('base_rate 150/1000 above a ceiling of 0.1 fires on the upper one-sided score test', () => {
    // z = 0.05 / √(0.09/1000) = 5.2705; interval 0.15 ± 1.96·√(0.1275/1000).
    const [j] = judgeRule(rule({ kind: 'ceiling', metric: 'base_rate', max: 0.1 }), [overall(prop(150, 1000))]);
    expect(j).toMatchObject({ verdict: 'fire', observed: 0.15, baseline: 0.1, relative_change: null });
    expect(j!.p_value).toBeCloseTo(6.804011e-8, 12);
    expect(j!.interval!.low).toBeCloseTo(0.1278689, 6);
    expect(j!.interval!.high).toBeCloseTo(0.1721311, 6);
    expect(j!.reason).toBe('base_rate 0.15 above the ceiling 0.1; p = 6.80e-8, a discovery at FDR 0.05');
  });

  it('a value at or under the ceiling does not fire', () => {
    const ceiling = rule({ kind: 'ceiling', metric: 'brier', max: 0.2 });
    const result = judgeRule(ceiling, [overall(bare(0.2)), overall(bare(0.1)), overall(bare(0.25))]);
    expect(result.map((j) => j.verdict)).toEqual(['clear', 'clear', 'fire']);
    expect(result[0]!.reason).toBe('within bounds: brier 0.2 above the ceiling 0.2');
    expect(result[2]!.reason).toBe('brier 0.25 above the ceiling 0.2 (no interval: judged on the bound alone)');
  });
});

describe('judgeRule: label_availability', () => {
  const availability = rule({ kind: 'label_availability', tolerance: 0.05, slices: ['region'], min_slice_size: 50 });

  it('a shortfall beyond the tolerance fires: 0.7 labeled against 0.8 expected', () => {
    // Pooled z = −0.1 / √(0.75·0.25·0.002) = −5.1640.
    const [j] = judgeRule(availability, [overall(prop(700, 1000), prop(800, 1000))]);
    expect(j).toMatchObject({ verdict: 'fire', observed: 0.7, baseline: 0.8 });
    expect(j!.relative_change).toBeCloseTo(0.125, 12);
    expect(j!.p_value).toBeCloseTo(1.2087819e-7, 12);
    expect(j!.interval!.low).toBeCloseTo(-0.1374999, 6);
    expect(j!.interval!.high).toBeCloseTo(-0.0621427, 6);
    expect(j!.reason).toBe('label availability 0.7 against 0.8 expected (tolerance 0.05); p = 1.21e-7, a discovery at FDR 0.05');
  });

  it('a shortfall within the tolerance is clear', () => {
    const [j] = judgeRule(availability, [overall(prop(780, 1000), prop(800, 1000))]);
    expect(j!.verdict).toBe('clear');
    expect(j!.reason).toBe('within bounds: label availability 0.78 against 0.8 expected (tolerance 0.05)');
  });

  it('a shortfall of exactly the tolerance does not fire (0.75 → 0.5 with tolerance 0.25)', () => {
    const [j] = judgeRule(rule({ kind: 'label_availability', tolerance: 0.25 }), [overall(prop(500, 1000), prop(750, 1000))]);
    expect(j!.p_value).toBeLessThan(1e-6);
    expect(j!.verdict).toBe('clear');
  });

  it('an expected availability of 0 is judged, not suppressed, with no relative change', () => {
    const [j] = judgeRule(availability, [overall(bare(0), bare(0))]);
    expect(j).toMatchObject({ verdict: 'clear', relative_change: null, baseline: 0 });
  });

  it('no expected curve (no baseline) is suppressed, and so is a slice under min_slice_size', () => {
    const [noBaseline, small] = judgeRule(availability, [overall(prop(700, 1000)), slice('eu', 49, prop(10, 49), prop(40, 49))]);
    expect(noBaseline).toMatchObject({ verdict: 'suppressed', reason: 'no baseline value for this group' });
    expect(small).toMatchObject({ verdict: 'suppressed', reason: '49 predictions, fewer than min_slice_size 50' });
  });
});
