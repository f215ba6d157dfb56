/**
 * Exploration traffic against the policy's own (docs/metrics.md, "Exploration and policy
 * traffic"): where a policy's decisions decide which labels exist (a blocked transaction never
 * charges back), metrics on its own traffic are biased, while its randomized traffic is not.
 * So the headline metrics of both get 95% intervals, and when the intervals do not overlap
 * the evaluation warns of selection bias.
 */
import type { BinaryMetrics, RegressionMetrics } from './finish-metrics';
import { wilsonInterval as wilsonScoreInterval } from './statistics';

export interface MetricInterval {
  value: number | null;
  ci_low: number | null;
  ci_high: number | null;
}

export interface TrafficComparison {
  metric: string;
  exploration: MetricInterval;
  policy: MetricInterval;
  /** Both intervals exist and do not overlap. */
  differs: boolean;
}

/** The two-sided 95% normal quantile. */
const Z = 1.959963984540054;

const NONE: MetricInterval = { value: null, ci_low: null, ci_high: null };

/** Wilson's score interval for a proportion k / n (./statistics, exact at 0 and n). */
export function wilsonInterval(k: number, n: number): MetricInterval {
  if (n === 0) return NONE;
  const { low, high } = wilsonScoreInterval(k, n);
  return { value: k / n, ci_low: low, ci_high: high };
}

/**
 * ROC AUC ± z·SE with Hanley and McNeil's (1982) standard error from the AUC and the class
 * counts, clipped to [0, 1].
 */
export function hanleyMcNeilInterval(auc: number | null, positives: number, negatives: number): MetricInterval {
  if (auc === null || positives === 0 || negatives === 0) return NONE;
  const q1 = auc / (2 - auc);
  const q2 = (2 * auc * auc) / (1 + auc);
  const variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives);
  const half = Z * Math.sqrt(Math.max(variance, 0));
  return { value: auc, ci_low: Math.max(0, auc - half), ci_high: Math.min(1, auc + half) };
}

/** A mean ± z·√(variance / n), the variance from the mean of squares (population form). */
export function meanInterval(mean: number | null, meanOfSquares: number | null, n: number): MetricInterval {
  if (mean === null || meanOfSquares === null || n === 0) return NONE;
  const half = Z * Math.sqrt(Math.max(meanOfSquares - mean * mean, 0) / n);
  return { value: mean, ci_low: mean - half, ci_high: mean + half };
}

function binaryIntervals(m: BinaryMetrics): Record<string, MetricInterval> {
  return {
    base_rate: wilsonInterval(m.n_positive, m.n_labeled),
    roc_auc: hanleyMcNeilInterval(m.roc_auc, m.n_positive, m.n_labeled - m.n_positive),
  };
}

/** |error| and error both have mean of squares mse = rmse². */
function regressionIntervals(m: RegressionMetrics): Record<string, MetricInterval> {
  const mse = m.rmse === null ? null : m.rmse * m.rmse;
  return { mae: meanInterval(m.mae, mse, m.n_labeled), bias: meanInterval(m.bias, mse, m.n_labeled) };
}

const disjoint = (a: MetricInterval, b: MetricInterval) =>
  a.ci_low !== null && a.ci_high !== null && b.ci_low !== null && b.ci_high !== null && (a.ci_high < b.ci_low || b.ci_high < a.ci_low);

/** Binary: base_rate (Wilson) and roc_auc (Hanley–McNeil); regression: mae and bias (normal). */
export function compareTraffic(
  exploration: BinaryMetrics | RegressionMetrics,
  policy: BinaryMetrics | RegressionMetrics,
): TrafficComparison[] {
  const intervals = (m: BinaryMetrics | RegressionMetrics) => ('roc_auc' in m ? binaryIntervals(m) : regressionIntervals(m));
  const explored = intervals(exploration);
  const own = intervals(policy);
  return Object.keys(explored).map((metric) => ({
    metric,
    exploration: explored[metric]!,
    policy: own[metric]!,
    differs: disjoint(explored[metric]!, own[metric]!),
  }));
}

const show = (i: MetricInterval) => `${i.value!.toFixed(4)} [${i.ci_low!.toFixed(4)}, ${i.ci_high!.toFixed(4)}]`;

/** The selection-bias warning for the comparisons that differ, or null when none does. */
export function selectionBiasWarning(comparisons: TrafficComparison[]): string | null {
  const differing = comparisons.filter((c) => c.differs);
  if (differing.length === 0) return null;
  return `selection bias: exploration and policy traffic differ beyond their 95% intervals on ${differing
    .map((c) => `${c.metric} (exploration ${show(c.exploration)}, policy ${show(c.policy)})`)
    .join(' and ')}; the policy's own traffic misleads, trust the exploration traffic's numbers`;
}
