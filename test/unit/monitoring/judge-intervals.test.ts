import { describe, expect, it } from 'vitest';
import { judgeRule, measure, type GroupInput, type JudgedRule, type Measured } from '../../../activities/monitoring/judge';
import { policySchema } from '../../../activities/monitoring/policy';
import type { BinaryMetrics } from '../../../stats/finish-metrics';

/** A rule as a stored policy gives it: parsed by the policy schema, so its defaults apply. */
function rule<K extends JudgedRule['kind']>(raw: { kind: K } & Record<string, unknown>): Extract<JudgedRule, { kind: K }> {
  const policy = policySchema.parse({ name: 'p', version: 1, model_name: 'm', label_definition: 'd', rules: [{ name: 'r', ...raw }] });
  return policy.rules[0] as Extract<JudgedRule, { kind: K }>;
}

const BAND = { kind: 'band', reference: { from: '2026-03-01T00:00:00Z', to: '2026-03-29T00:00:00Z' }, chunk: 'P7D' };
const overall = (observed: Measured, extra: Partial<GroupInput> = {}): GroupInput => ({
  dimension: '',
  value: null,
  n: 1000,
  observed,
  ...extra,
});
const withInterval = (value: number, low: number, high: number): Measured => ({
  value,
  sample: null,
  interval: { low, high, method: 'bootstrap' },
});

describe('a band baseline', () => {
  const banded = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.5, baseline: { ...BAND, sigmas: 2 } });

  it('fires outside the band on either side, with no test (the band is the bound), and is clear inside it', () => {
    const band = { limits: [0.5, 0.7] as [number, number], chunks: 4, sigmas: 2 };
    const [below] = judgeRule(banded, [overall({ value: 0.45, sample: null }, { band })]);
    expect(below).toMatchObject({ verdict: 'fire', baseline: 0.5, band: [0.5, 0.7], p_value: null });
    expect(below!.reason).toBe('outside the band: recall 0.45 against the band [0.5, 0.7] (mean ± 2 sd of 4 reference chunks)');
    expect(judgeRule(banded, [overall({ value: 0.75, sample: null }, { band })])[0]).toMatchObject({ verdict: 'fire', baseline: 0.7 });
    expect(judgeRule(banded, [overall({ value: 0.6, sample: null }, { band })])[0]!.verdict).toBe('clear');
  });

  it('is suppressed when fewer than two reference chunks give the metric', () => {
    const [judged] = judgeRule(banded, [overall({ value: 0.45, sample: null }, { band: { limits: null, chunks: 1, sigmas: 2 } })]);
    expect(judged).toMatchObject({ verdict: 'suppressed' });
    expect(judged!.reason).toBe('no band: 1 reference chunk(s) with labels give recall, and a band needs at least 2');
  });

  it('with require_interval, fires only when the interval lies wholly outside the band', () => {
    const strict = rule({ kind: 'relative_drop', metric: 'recall', max_drop: 0.5, require_interval: true, baseline: { ...BAND } });
    const band = { limits: [0.5, 0.7] as [number, number], chunks: 4, sigmas: 3 };
    expect(judgeRule(strict, [overall(withInterval(0.45, 0.4, 0.49), { band })])[0]!.verdict).toBe('fire');
    const [held] = judgeRule(strict, [overall(withInterval(0.45, 0.4, 0.52), { band })]);
    expect(held).toMatchObject({ verdict: 'clear', metric_interval: { low: 0.4, high: 0.52, method: 'bootstrap' } });
    expect(held!.reason).toMatch(/its 95% interval \[0\.4, 0\.52\] \(bootstrap\) includes the band \[0\.5, 0\.7\]$/);
  });
});

describe('require_interval', () => {
  const strict = rule({ kind: 'relative_drop', metric: 'brier', max_drop: 0.1, require_interval: true });
  const point = rule({ kind: 'relative_drop', metric: 'brier', max_drop: 0.1 });

  it('a value with no sample fires on its bound alone without it, but with it only when its interval clears the baseline (on the worse side)', () => {
    // Brier is lower-is-better: 0.2 against 0.15 is a 33% worsening; the snapshot gives no counts for a test.
    const baseline: Measured = { value: 0.15, sample: null };
    expect(judgeRule(point, [overall(withInterval(0.2, 0.14, 0.26), { baseline })])[0]!.verdict).toBe('fire');
    const [held] = judgeRule(strict, [overall(withInterval(0.2, 0.14, 0.26), { baseline })]);
    expect(held!.verdict).toBe('clear');
    expect(held!.reason).toMatch(/includes the baseline 0\.15$/);
    expect(judgeRule(strict, [overall(withInterval(0.2, 0.16, 0.24), { baseline })])[0]!.verdict).toBe('fire');
    const [none] = judgeRule(strict, [overall({ value: 0.2, sample: null }, { baseline })]);
    expect(none!.verdict).toBe('clear');
    expect(none!.reason).toMatch(/no 95% interval of brier for this group, and the rule requires one$/);
  });

  it("measure takes a snapshot's own interval (evaluate --intervals) with its method", () => {
    const metrics = {
      n: 100,
      n_labeled: 100,
      n_final: 100,
      n_positive: 40,
      brier: 0.2,
      intervals: { metrics: { brier: { value: 0.2, low: 0.17, high: 0.23, method: 'bootstrap' } } },
    } as unknown as BinaryMetrics;
    expect(measure(metrics, 'brier').interval).toEqual({ low: 0.17, high: 0.23, method: 'bootstrap' });
  });
});
