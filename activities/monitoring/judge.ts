import type { GroupMetrics } from '../../contracts/evaluation';
import { LOWER_IS_BETTER, type PolicyRule } from './policy';
import {
  benjaminiHochberg,
  hanleyMcNeilSe,
  newcombeDifference,
  oneProportionPValue,
  oneSided,
  twoProportionPValue,
  wilsonInterval,
  Z95,
  type Alternative,
  type Interval,
} from '../../stats/statistics';

/**
 * Judging one rule on the groups of a cohort (overall and its slices), without the database:
 * the value against its bound or baseline, the statistical gate, and Benjamini–Hochberg across
 * the groups, so that a slice of 30 does not page anyone on noise (docs/alerts.md).
 */

/** What the gate can test about a value: a proportion's counts, an AUC's classes, or an interval. */
export type Sample =
  | { kind: 'proportion'; x: number; n: number }
  | { kind: 'auc'; positives: number; negatives: number }
  | { kind: 'interval'; low: number; high: number };

/**
 * A value's own 95% interval and how it was drawn: the snapshot's (`evaluate --intervals`:
 * wilson, delong, bootstrap), else Wilson's from the counts of a proportion, the normal one
 * from an estimate's standard error (`normal`), or a projection's (`projection`).
 */
export interface MetricInterval {
  low: number;
  high: number;
  method: 'wilson' | 'delong' | 'bootstrap' | 'normal' | 'projection';
}

export interface Measured {
  value: number | null;
  sample: Sample | null;
  /** The value's 95% interval, when one can be drawn. */
  interval?: MetricInterval | null;
}

/** A band baseline's limits (mean ± sigmas sd of the reference chunks' realized values), null when fewer than two chunks give one. */
export interface BandLimits {
  limits: [number, number] | null;
  chunks: number;
  sigmas: number;
}

export interface GroupInput {
  dimension: string;
  value: string | null;
  /** Predictions in the group (what min_slice_size counts). */
  n: number;
  observed: Measured;
  /** The baseline's value and pooled sample; absent for floor and ceiling. */
  baseline?: Measured;
  /** Under a band baseline (overall only): the band instead of a baseline value. */
  band?: BandLimits;
}

/** `error`: the rule could not be judged (its reason says why); recorded, never a reason to stop. */
export type Verdict = 'fire' | 'clear' | 'suppressed' | 'error';

export interface GroupJudgement {
  dimension: string;
  value: string | null;
  n: number;
  verdict: Verdict;
  /** Why it was suppressed or cleared, or what fired; read by operators. */
  reason: string;
  observed: number | null;
  baseline: number | null;
  /** The relative worsening against the baseline (relative rules only). */
  relative_change: number | null;
  /** An interval for the change (relative rules) or the value (bounds), 95%. */
  interval: Interval | null;
  p_value: number | null;
  /** The observed value's own 95% interval and its method (absent from judgements recorded before). */
  metric_interval?: MetricInterval | null;
  /** Under a band baseline: the band the value was judged against. */
  band?: [number, number] | null;
}

/** Rules that judge a value (or a projection of it) against a bound or a baseline. */
export type JudgedRule = Extract<
  PolicyRule,
  { kind: 'relative_drop' | 'floor' | 'ceiling' | 'label_availability' | 'estimated_drop' | 'projected_drop' }
>;

/** Counts behind a snapshot metric, when it is a proportion or an AUC; null when the snapshot cannot say. */
export function measure(metrics: GroupMetrics, metric: string): Measured {
  const measured = measureCounts(metrics, metric);
  const own = (metrics as { intervals?: { metrics?: Record<string, { low: number | null; high: number | null; method: string }> } })
    .intervals?.metrics?.[metric];
  if (measured.value !== null && own && own.low !== null && own.high !== null)
    return { ...measured, interval: { low: own.low, high: own.high, method: own.method as MetricInterval['method'] } };
  return measured;
}

/** Wilson's 95% interval of a proportion's counts, as `evaluate --intervals` draws it; null for any other sample. */
export function proportionInterval(sample: Sample | null): MetricInterval | null {
  if (sample?.kind !== 'proportion' || sample.n <= 0) return null;
  const interval = wilsonInterval(sample.x, sample.n);
  return { low: interval.low, high: interval.high, method: 'wilson' };
}

function measureCounts(metrics: GroupMetrics, metric: string): Measured {
  const record = metrics as unknown as Record<string, unknown>;
  const raw = record[metric];
  const value = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
  if (value === null) return { value, sample: null };
  if (metric === 'label_availability') return { value, sample: { kind: 'proportion', x: metrics.n_final, n: metrics.n } };
  if (!('n_positive' in metrics)) return { value, sample: null };
  const positives = metrics.n_positive;
  const negatives = metrics.n_labeled - positives;
  switch (metric) {
    case 'recall':
      return { value, sample: positives > 0 ? { kind: 'proportion', x: Math.round(value * positives), n: positives } : null };
    case 'precision': {
      // precision = tp / flagged and recall = tp / positives give the flagged count back.
      const tp = metrics.recall === null ? null : Math.round(metrics.recall * positives);
      return { value, sample: tp !== null && value > 0 ? { kind: 'proportion', x: tp, n: Math.round(tp / value) } : null };
    }
    case 'base_rate':
      return { value, sample: { kind: 'proportion', x: positives, n: metrics.n_labeled } };
    case 'roc_auc':
      return { value, sample: positives > 0 && negatives > 0 ? { kind: 'auc', positives, negatives } : null };
    default:
      return { value, sample: null };
  }
}

/** The mean value of baseline groups and their pooled sample (counts added, AUC classes added). */
export function poolBaseline(measures: Measured[]): Measured {
  const values = measures.map((m) => m.value).filter((v): v is number => v !== null);
  if (values.length === 0) return { value: null, sample: null };
  const value = values.reduce((a, b) => a + b, 0) / values.length;
  const samples = measures.map((m) => m.sample);
  if (samples.length !== values.length || samples.some((s) => s === null)) return { value, sample: null };
  const kinds = new Set(samples.map((s) => s!.kind));
  if (kinds.size !== 1) return { value, sample: null };
  const [kind] = kinds;
  if (kind === 'proportion') {
    const proportions = samples as Array<Extract<Sample, { kind: 'proportion' }>>;
    return { value, sample: { kind, x: proportions.reduce((a, s) => a + s.x, 0), n: proportions.reduce((a, s) => a + s.n, 0) } };
  }
  if (kind === 'auc') {
    const aucs = samples as Array<Extract<Sample, { kind: 'auc' }>>;
    return {
      value,
      sample: { kind, positives: aucs.reduce((a, s) => a + s.positives, 0), negatives: aucs.reduce((a, s) => a + s.negatives, 0) },
    };
  }
  return { value, sample: values.length === 1 ? samples[0]! : null };
}

const standardError = (measured: Measured): number | null => {
  const s = measured.sample;
  if (!s || measured.value === null) return null;
  if (s.kind === 'proportion') return s.n > 0 ? Math.sqrt((measured.value * (1 - measured.value)) / s.n) : null;
  if (s.kind === 'auc') return hanleyMcNeilSe(measured.value, s.positives, s.negatives);
  return (s.high - s.low) / (2 * Z95);
};

/** One-sided test and 95% interval of observed − baseline, in the direction of "worse". */
function testChange(observed: Measured, baseline: Measured, worse: Alternative): { p: number | null; interval: Interval | null } {
  const o = observed.sample;
  const b = baseline.sample;
  if (o?.kind === 'proportion' && b?.kind === 'proportion' && o.n > 0 && b.n > 0) {
    return { p: twoProportionPValue(o.x, o.n, b.x, b.n, worse), interval: newcombeDifference(o.x, o.n, b.x, b.n) };
  }
  const seO = standardError(observed);
  const seB = b ? standardError(baseline) : 0;
  if (seO === null || seB === null || observed.value === null || baseline.value === null) return { p: null, interval: null };
  const se = Math.hypot(seO, seB);
  const d = observed.value - baseline.value;
  if (se === 0) return { p: null, interval: null };
  return { p: oneSided(d / se, worse), interval: { low: d - Z95 * se, high: d + Z95 * se } };
}

/** One-sided test and 95% interval of the observed value against a fixed bound. */
function testBound(observed: Measured, bound: number, worse: Alternative): { p: number | null; interval: Interval | null } {
  const o = observed.sample;
  if (observed.value === null) return { p: null, interval: null };
  if (o?.kind === 'proportion' && o.n > 0 && bound > 0 && bound < 1) {
    const se = Math.sqrt((observed.value * (1 - observed.value)) / o.n);
    return {
      p: oneProportionPValue(o.x, o.n, bound, worse),
      interval: { low: observed.value - Z95 * se, high: observed.value + Z95 * se },
    };
  }
  const se = standardError(observed);
  if (se === null || se === 0) return { p: null, interval: null };
  return {
    p: oneSided((observed.value - bound) / se, worse),
    interval: { low: observed.value - Z95 * se, high: observed.value + Z95 * se },
  };
}

function metricOf(rule: JudgedRule): string {
  return rule.kind === 'label_availability' ? 'label_availability' : rule.metric;
}

/**
 * Judges a rule on each group: groups under min_slice_size (slices only) are suppressed; a
 * candidate (past the bound or the allowed drop) fires only when the gate agrees: its
 * one-sided p-value is a Benjamini–Hochberg discovery among the rule's tested groups. A value
 * the snapshot gives no sample for is judged on its bound alone, which the judgement says.
 */
export function judgeRule(rule: JudgedRule, groups: GroupInput[]): GroupJudgement[] {
  const metric = metricOf(rule);
  // A "worse" value is lower for most metrics and higher for errors.
  const worse: Alternative = LOWER_IS_BETTER.has(metric) ? 'greater' : 'less';
  const judged = groups.map((group) => withInterval(rule, group, worse, judgeGroup(rule, group, metric, worse)));
  return gate(rule, judged);
}

interface Judged {
  judgement: GroupJudgement;
  candidate: boolean;
  /** Judged on a band: no test, the band is the statistical bound. */
  onBand?: boolean;
  /** Why a candidate was withdrawn: its interval includes the baseline (require_interval). */
  withdrawn?: string;
}

const shownInterval = (interval: MetricInterval): string => `[${interval.low}, ${interval.high}] (${interval.method})`;

/**
 * `require_interval`: a candidate stands only when the value's own 95% interval lies wholly on
 * the worse side of the baseline (or past the bound, or outside the band); without an
 * interval it cannot be shown to, so it is withdrawn too.
 */
function withInterval(rule: JudgedRule, group: GroupInput, worse: Alternative, judged: Judged): Judged {
  const interval = group.observed.interval ?? proportionInterval(group.observed.sample);
  const result: Judged = interval ? { ...judged, judgement: { ...judged.judgement, metric_interval: interval } } : judged;
  if (!rule.require_interval || !judged.candidate || judged.judgement.verdict === 'suppressed') return result;
  if (interval === null)
    return { ...result, candidate: false, withdrawn: `no 95% interval of ${metricOf(rule)} for this group, and the rule requires one` };
  let excluded: boolean;
  let against: string;
  if (judged.judgement.band) {
    const [low, high] = judged.judgement.band;
    excluded = interval.high < low || interval.low > high;
    against = `the band [${low}, ${high}]`;
  } else {
    const baseline = judged.judgement.baseline!;
    const lowerIsWorse = rule.kind === 'floor' ? true : rule.kind === 'ceiling' ? false : worse === 'less';
    excluded = lowerIsWorse ? interval.high < baseline : interval.low > baseline;
    against = `${rule.kind === 'floor' || rule.kind === 'ceiling' ? 'the bound' : 'the baseline'} ${baseline}`;
  }
  return excluded ? result : { ...result, candidate: false, withdrawn: `its 95% interval ${shownInterval(interval)} includes ${against}` };
}

/** A band baseline: the value against mean ± sigmas sd of the reference chunks, either side. */
function judgeOnBand(rule: JudgedRule, group: GroupInput, metric: string, base: GroupJudgement): Judged {
  const band = group.band!;
  if (band.limits === null)
    return {
      judgement: {
        ...base,
        verdict: 'suppressed',
        reason: `no band: ${band.chunks} reference chunk(s) with labels give ${metric}, and a band needs at least 2`,
      },
      candidate: false,
    };
  const [low, high] = band.limits;
  const observed = group.observed.value!;
  return {
    judgement: {
      ...base,
      baseline: observed <= (low + high) / 2 ? low : high,
      band: [low, high],
      reason: `${metric} ${observed} against the band [${low}, ${high}] (mean ± ${band.sigmas} sd of ${band.chunks} reference chunks)`,
    },
    candidate: observed < low || observed > high,
    onBand: true,
  };
}

function judgeGroup(rule: JudgedRule, group: GroupInput, metric: string, worse: Alternative): Judged {
  const base: GroupJudgement = {
    dimension: group.dimension,
    value: group.value,
    n: group.n,
    verdict: 'clear',
    reason: '',
    observed: group.observed.value,
    baseline: group.baseline?.value ?? null,
    relative_change: null,
    interval: null,
    p_value: null,
  };
  if (group.dimension !== '' && group.n < rule.min_slice_size)
    return {
      judgement: {
        ...base,
        verdict: 'suppressed' as const,
        reason: `${group.n} predictions, fewer than min_slice_size ${rule.min_slice_size}`,
      },
      candidate: false,
    };
  if (group.observed.value === null)
    return { judgement: { ...base, verdict: 'suppressed' as const, reason: `no ${metric} for this group` }, candidate: false };
  if (group.band) return judgeOnBand(rule, group, metric, base);
  const observed = group.observed.value;
  if (rule.kind === 'floor' || rule.kind === 'ceiling') {
    const bound = rule.kind === 'floor' ? rule.min : rule.max;
    const candidate = rule.kind === 'floor' ? observed < bound : observed > bound;
    const test = testBound(group.observed, bound, rule.kind === 'floor' ? 'less' : 'greater');
    return {
      judgement: {
        ...base,
        baseline: bound,
        interval: test.interval,
        p_value: test.p,
        reason: `${metric} ${observed} ${rule.kind === 'floor' ? 'below the floor' : 'above the ceiling'} ${bound}`,
      },
      candidate,
    };
  }
  const baseline = group.baseline;
  if (!baseline || baseline.value === null)
    return { judgement: { ...base, verdict: 'suppressed' as const, reason: 'no baseline value for this group' }, candidate: false };
  const test = testChange(group.observed, baseline, worse);
  if (rule.kind === 'label_availability') {
    const shortfall = baseline.value - observed;
    return {
      judgement: {
        ...base,
        relative_change: baseline.value > 0 ? shortfall / baseline.value : null,
        interval: test.interval,
        p_value: test.p,
        reason: `label availability ${observed} against ${baseline.value} expected (tolerance ${rule.tolerance})`,
      },
      candidate: shortfall > rule.tolerance,
    };
  }
  if (baseline.value === 0)
    return {
      judgement: { ...base, verdict: 'suppressed' as const, reason: 'the baseline is 0, so a relative change is undefined' },
      candidate: false,
    };
  const change =
    worse === 'less' ? (baseline.value - observed) / Math.abs(baseline.value) : (observed - baseline.value) / Math.abs(baseline.value);
  return {
    judgement: {
      ...base,
      relative_change: change,
      interval: test.interval,
      p_value: test.p,
      reason:
        `${metric} ${observed} against ${baseline.value}: ` +
        `${(change * 100).toFixed(1)}% worse (allowed ${(rule.max_drop * 100).toFixed(1)}%)`,
    },
    candidate: change >= rule.max_drop,
  };
}

/** The statistical gate: Benjamini–Hochberg across the rule's tested groups, and the verdicts. */
function gate(rule: JudgedRule, judged: Judged[]): GroupJudgement[] {
  // Every group judged with a p-value is a test, candidate or not: m counts them all.
  const tested = judged
    .map(({ judgement }, index) => ({ index, p: judgement.verdict === 'suppressed' ? null : judgement.p_value }))
    .filter((t): t is { index: number; p: number } => t.p !== null);
  const discoveries = benjaminiHochberg(
    tested.map((t) => t.p),
    rule.alpha,
  );
  const discovered = new Set(tested.filter((_, k) => discoveries[k]).map((t) => t.index));
  return judged.map(({ judgement, candidate, onBand, withdrawn }, index) => {
    if (judgement.verdict === 'suppressed') return judgement;
    if (withdrawn)
      return { ...judgement, verdict: 'clear' as const, reason: `not shown by its interval: ${judgement.reason}; ${withdrawn}` };
    if (!candidate) return { ...judgement, verdict: 'clear' as const, reason: `within bounds: ${judgement.reason}` };
    if (onBand) return { ...judgement, verdict: 'fire' as const, reason: `outside the band: ${judgement.reason}` };
    if (judgement.p_value === null)
      return { ...judgement, verdict: 'fire' as const, reason: `${judgement.reason} (no interval: judged on the bound alone)` };
    if (discovered.has(index))
      return {
        ...judgement,
        verdict: 'fire' as const,
        reason: `${judgement.reason}; p = ${judgement.p_value.toPrecision(3)}, a discovery at FDR ${rule.alpha}`,
      };
    return {
      ...judgement,
      verdict: 'clear' as const,
      reason: `not significant: ${judgement.reason}; p = ${judgement.p_value.toPrecision(3)} is no discovery at FDR ${rule.alpha}`,
    };
  });
}
