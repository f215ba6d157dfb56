/**
 * 95% intervals for the headline binary metrics of one group (`evaluate --intervals`,
 * docs/metrics.md): Wilson score intervals for the proportions (base rate, precision, recall,
 * accuracy), DeLong's for ROC AUC, and a seeded stratified percentile bootstrap for average
 * precision, F1, Brier and log loss. Pure: the labeled rows of the group come in as arrays.
 */
import { percentileOfSorted } from './off-policy';
import { mulberry32 } from './seeded-random';
import { wilsonInterval, Z95 } from './statistics';

/** The bootstrap's fixed seed and resample count: the same rows always give the same interval. */
export const BOOTSTRAP_SEED = 20261207;
export const BOOTSTRAP_RESAMPLES = 1000;
/** Log loss clips scores to [ε, 1 − ε], as the evaluation's SQL does. */
const LOG_LOSS_EPSILON = 1e-15;

export type IntervalMethod = 'wilson' | 'delong' | 'bootstrap';

export interface MetricInterval {
  /** The metric on the group's rows (as the evaluation gives it). */
  value: number | null;
  low: number | null;
  high: number | null;
  method: IntervalMethod;
}

export const INTERVAL_METRICS = ['base_rate', 'precision', 'recall', 'accuracy', 'roc_auc', 'pr_auc', 'f1', 'brier', 'log_loss'] as const;
export type IntervalMetric = (typeof INTERVAL_METRICS)[number];

export interface MetricIntervals {
  confidence: 0.95;
  bootstrap: { seed: number; resamples: number };
  metrics: Record<IntervalMetric, MetricInterval>;
  /** Why an interval is null, per metric. */
  undefined_intervals: Partial<Record<IntervalMetric, string>>;
}

/** A group's labeled rows: score, label (0 or 1) and whether the score is at or above its decision threshold. */
export interface LabeledRows {
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
  flagged: ArrayLike<number>;
}

/** Average ranks (1-based) of `values`, ties sharing their mean rank, as scipy.stats.rankdata. */
export function midranks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!] = rank;
    start = end + 1;
  }
  return ranks;
}

const sampleVariance = (values: Float64Array): number => {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let sum = 0;
  for (const v of values) sum += (v - mean) ** 2;
  return sum / (values.length - 1);
};

/**
 * ROC AUC with DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988, by midranks as Sun &
 * Xu 2014): placements V10 of each positive and V01 of each negative, variance
 * s²(V10)/m + s²(V01)/n, the normal interval clipped to [0, 1]. Needs two of each class.
 */
export function delongInterval(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  z = Z95,
): { auc: number; low: number; high: number } | null {
  const positives: number[] = [];
  const negatives: number[] = [];
  for (let i = 0; i < scores.length; i++) (labels[i] === 1 ? positives : negatives).push(scores[i]!);
  const m = positives.length;
  const n = negatives.length;
  if (m < 2 || n < 2) return null;
  const all = midranks([...positives, ...negatives]);
  const withinPositives = midranks(positives);
  const withinNegatives = midranks(negatives);
  const v10 = Float64Array.from(positives, (_, i) => (all[i]! - withinPositives[i]!) / n);
  const v01 = Float64Array.from(negatives, (_, j) => 1 - (all[m + j]! - withinNegatives[j]!) / m);
  let auc = 0;
  for (const v of v10) auc += v;
  auc /= m;
  const se = Math.sqrt(sampleVariance(v10) / m + sampleVariance(v01) / n);
  return { auc, low: Math.max(0, auc - z * se), high: Math.min(1, auc + z * se) };
}

interface WeightedMetrics {
  pr_auc: number | null;
  f1: number | null;
  brier: number | null;
  log_loss: number | null;
}

/** The four bootstrapped metrics over rows sorted by score descending, each counted `weight` times. */
function weightedMetrics(rows: LabeledRows, order: Int32Array, weight: ArrayLike<number>): WeightedMetrics {
  let total = 0;
  let positives = 0;
  let tp = 0;
  let fp = 0;
  let brier = 0;
  let logLoss = 0;
  let ap = 0;
  let cumulativePositives = 0;
  let cumulative = 0;
  for (let start = 0; start < order.length;) {
    const score = rows.scores[order[start]!]!;
    let groupPositives = 0;
    let groupAll = 0;
    let end = start;
    for (; end < order.length && rows.scores[order[end]!] === score; end++) {
      const i = order[end]!;
      const w = weight[i]!;
      if (w === 0) continue;
      const y = rows.labels[i]!;
      const clipped = Math.min(Math.max(score, LOG_LOSS_EPSILON), 1 - LOG_LOSS_EPSILON);
      groupAll += w;
      groupPositives += w * y;
      if (rows.flagged[i] === 1) y === 1 ? (tp += w) : (fp += w);
      brier += w * (score - y) ** 2;
      logLoss -= w * Math.log(y === 1 ? clipped : 1 - clipped);
    }
    cumulativePositives += groupPositives;
    cumulative += groupAll;
    if (groupPositives > 0) ap += (groupPositives * cumulativePositives) / cumulative;
    total += groupAll;
    positives += groupPositives;
    start = end;
  }
  const f1Denominator = tp + positives + fp;
  return {
    pr_auc: positives > 0 ? ap / positives : null,
    f1: f1Denominator > 0 ? (2 * tp) / f1Denominator : null,
    brier: total > 0 ? brier / total : null,
    log_loss: total > 0 ? logLoss / total : null,
  };
}

const BOOTSTRAPPED = ['pr_auc', 'f1', 'brier', 'log_loss'] as const;

/**
 * The percentile bootstrap, stratified by label: each of `resamples` draws takes as many
 * positives and as many negatives as the group has, with replacement, from a mulberry32
 * stream seeded with `seed` (the index of each draw ⌊u · count⌋ into the stratum's rows
 * sorted by score, then by decision, positives first, then negatives); the interval is the 2.5th and 97.5th percentiles (numpy.percentile, linear) of
 * the metric over the draws that define it, null when fewer than half do.
 */
export function stratifiedBootstrap(
  rows: LabeledRows,
  seed = BOOTSTRAP_SEED,
  resamples = BOOTSTRAP_RESAMPLES,
): Record<(typeof BOOTSTRAPPED)[number], { low: number; high: number } | null> {
  const positives: number[] = [];
  const negatives: number[] = [];
  for (let i = 0; i < rows.labels.length; i++) (rows.labels[i] === 1 ? positives : negatives).push(i);
  // Each stratum in (score, flagged) order, so the draws do not depend on the order rows came in.
  const canonical = (a: number, b: number) => rows.scores[a]! - rows.scores[b]! || rows.flagged[a]! - rows.flagged[b]!;
  positives.sort(canonical);
  negatives.sort(canonical);
  const order = Int32Array.from(Array.from({ length: rows.scores.length }, (_, i) => i).sort((a, b) => rows.scores[b]! - rows.scores[a]!));
  const next = mulberry32(seed);
  const weight = new Int32Array(rows.scores.length);
  const draws: Record<string, number[]> = Object.fromEntries(BOOTSTRAPPED.map((metric) => [metric, []]));
  for (let b = 0; b < resamples; b++) {
    weight.fill(0);
    for (const stratum of [positives, negatives]) {
      for (let k = 0; k < stratum.length; k++) weight[stratum[Math.floor(next() * stratum.length)]!]!++;
    }
    const metrics = weightedMetrics(rows, order, weight);
    for (const metric of BOOTSTRAPPED) if (metrics[metric] !== null) draws[metric]!.push(metrics[metric]!);
  }
  return Object.fromEntries(
    BOOTSTRAPPED.map((metric) => {
      const values = Float64Array.from(draws[metric]!).sort();
      return [
        metric,
        values.length * 2 < resamples || values.length === 0
          ? null
          : { low: percentileOfSorted(values, 2.5), high: percentileOfSorted(values, 97.5) },
      ];
    }),
  ) as Record<(typeof BOOTSTRAPPED)[number], { low: number; high: number } | null>;
}

/** Every headline metric's value and 95% interval for one group's labeled rows. */
export function metricIntervals(rows: LabeledRows, seed = BOOTSTRAP_SEED, resamples = BOOTSTRAP_RESAMPLES): MetricIntervals {
  const n = rows.labels.length;
  let positives = 0;
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; i++) {
    positives += rows.labels[i]!;
    if (rows.flagged[i] === 1) rows.labels[i] === 1 ? tp++ : fp++;
  }
  const negatives = n - positives;
  const reasons: Partial<Record<IntervalMetric, string>> = {};
  const wilson = (metric: IntervalMetric, x: number, total: number, reason: string): MetricInterval => {
    if (total === 0) {
      reasons[metric] = reason;
      return { value: null, low: null, high: null, method: 'wilson' };
    }
    // Exact at the edges (./statistics): 0 below no successes, 1 above all.
    const { low, high } = wilsonInterval(x, total);
    return { value: x / total, low, high, method: 'wilson' };
  };
  const delong = delongInterval(rows.scores, rows.labels);
  if (delong === null) reasons.roc_auc = 'needs at least two positive and two negative labels';
  const point = weightedMetrics(
    rows,
    Int32Array.from(Array.from({ length: n }, (_, i) => i).sort((a, b) => rows.scores[b]! - rows.scores[a]!)),
    new Int32Array(n).fill(1),
  );
  const boot = stratifiedBootstrap(rows, seed, resamples);
  // Why the metric itself is undefined on the group's rows (the evaluation's own reason), said
  // rather than what follows from it, that no resample defines it either.
  const pointReason = (metric: (typeof BOOTSTRAPPED)[number]): string | null =>
    point[metric] !== null
      ? null
      : metric === 'pr_auc'
        ? 'no positive labels'
        : metric === 'f1'
          ? 'no positive labels and no positive decisions'
          : null;
  const bootstrapped = (metric: (typeof BOOTSTRAPPED)[number]): MetricInterval => {
    const interval = boot[metric];
    if (interval === null)
      reasons[metric] = n === 0 ? 'no labeled predictions' : (pointReason(metric) ?? `undefined in most of the ${resamples} resamples`);
    return { value: point[metric], low: interval?.low ?? null, high: interval?.high ?? null, method: 'bootstrap' };
  };
  return {
    confidence: 0.95,
    bootstrap: { seed, resamples },
    metrics: {
      base_rate: wilson('base_rate', positives, n, 'no labeled predictions'),
      precision: wilson('precision', tp, tp + fp, 'no prediction at or above the threshold'),
      recall: wilson('recall', tp, positives, 'no positive labels'),
      accuracy: wilson('accuracy', tp + negatives - fp, n, 'no labeled predictions'),
      roc_auc: { value: delong?.auc ?? null, low: delong?.low ?? null, high: delong?.high ?? null, method: 'delong' },
      pr_auc: bootstrapped('pr_auc'),
      f1: bootstrapped('f1'),
      brier: bootstrapped('brier'),
      log_loss: bootstrapped('log_loss'),
    },
    undefined_intervals: reasons,
  };
}

export const REGRESSION_INTERVAL_METRICS = ['mae', 'rmse', 'bias', 'r2'] as const;
export type RegressionIntervalMetric = (typeof REGRESSION_INTERVAL_METRICS)[number];

export interface RegressionIntervals {
  confidence: 0.95;
  bootstrap: { seed: number; resamples: number };
  metrics: Record<RegressionIntervalMetric, MetricInterval>;
  undefined_intervals: Partial<Record<RegressionIntervalMetric, string>>;
}

/** MAE, RMSE, bias (mean of score − target) and R² of rows `index`, each row counted once per appearance; R² null for a constant target. */
function regressionMetricsOf(
  scores: ArrayLike<number>,
  targets: ArrayLike<number>,
  index: ArrayLike<number>,
): Record<RegressionIntervalMetric, number | null> {
  const n = index.length;
  if (n === 0) return { mae: null, rmse: null, bias: null, r2: null };
  let absolute = 0;
  let squared = 0;
  let error = 0;
  let targetSum = 0;
  let constant = true;
  for (let k = 0; k < n; k++) {
    const i = index[k]!;
    const e = scores[i]! - targets[i]!;
    absolute += Math.abs(e);
    squared += e * e;
    error += e;
    targetSum += targets[i]!;
    if (targets[i] !== targets[index[0]!]) constant = false;
  }
  const mean = targetSum / n;
  let total = 0;
  for (let k = 0; k < n; k++) total += (targets[index[k]!]! - mean) ** 2;
  return { mae: absolute / n, rmse: Math.sqrt(squared / n), bias: error / n, r2: constant ? null : 1 - squared / total };
}

/**
 * A regression group's intervals: the percentile bootstrap of MAE, RMSE, bias and R² (one
 * stratum: `resamples` draws of as many rows as the group has, with replacement, from the
 * mulberry32 stream seeded with `seed`, each index ⌊u · n⌋ into the rows sorted by score,
 * then target), the 2.5th and 97.5th percentiles of each metric over the draws that define it,
 * null when fewer than half do.
 */
export function regressionIntervals(
  scores: ArrayLike<number>,
  targets: ArrayLike<number>,
  seed = BOOTSTRAP_SEED,
  resamples = BOOTSTRAP_RESAMPLES,
): RegressionIntervals {
  const n = scores.length;
  const rows = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || targets[a]! - targets[b]!);
  const point = regressionMetricsOf(scores, targets, rows);
  const next = mulberry32(seed);
  const draws: Record<RegressionIntervalMetric, number[]> = { mae: [], rmse: [], bias: [], r2: [] };
  const index = new Int32Array(n);
  for (let b = 0; b < resamples && n > 0; b++) {
    for (let k = 0; k < n; k++) index[k] = rows[Math.floor(next() * n)]!;
    const metrics = regressionMetricsOf(scores, targets, index);
    for (const metric of REGRESSION_INTERVAL_METRICS) if (metrics[metric] !== null) draws[metric].push(metrics[metric]!);
  }
  const reasons: Partial<Record<RegressionIntervalMetric, string>> = {};
  const metrics = Object.fromEntries(
    REGRESSION_INTERVAL_METRICS.map((metric) => {
      const values = Float64Array.from(draws[metric]).sort();
      const defined = values.length > 0 && values.length * 2 >= resamples;
      if (!defined)
        reasons[metric] =
          n === 0
            ? 'no labeled predictions'
            : metric === 'r2' && point.r2 === null
              ? 'the target is constant, so r2 is undefined'
              : `undefined in most of the ${resamples} resamples`;
      return [
        metric,
        {
          value: point[metric],
          low: defined ? percentileOfSorted(values, 2.5) : null,
          high: defined ? percentileOfSorted(values, 97.5) : null,
          method: 'bootstrap' as const,
        },
      ];
    }),
  ) as Record<RegressionIntervalMetric, MetricInterval>;
  return { confidence: 0.95, bootstrap: { seed, resamples }, metrics, undefined_intervals: reasons };
}
