/**
 * What every check of a diagnosis (docs/diagnose.md) shares: the {@link Check} a finding is
 * reported as, the decision rule's thresholds ({@link RULES}), how differences and shares are
 * written, the pairing of the cohort's groups with the baseline's, and the verdict from the
 * checks' signals. The checks themselves are pure functions of the gathered facts, on the
 * labels (./label-checks) and on the model (./model-checks); every difference is judged by its
 * 95% interval (./intervals).
 */
import type { GroupCounts, SideFacts } from './facts';
import type { Difference } from './intervals';

export type Signal = 'labeling' | 'quality' | null;

export interface Check {
  name: string;
  /** What the check points at: the labels, the model's quality, or neither. */
  signal: Signal;
  finding: string;
  evidence: Record<string, unknown>;
}

/** The decision rule's thresholds (docs/diagnose.md). */
export const RULES = {
  /** Label availability moved by at least this many percentage points (as a share). */
  availability_change: 0.05,
  /** A metric fell by at least this share of the baseline's value. */
  metric_drop: 0.05,
  /** Received positives at most this share of what the scores and the history expect. */
  expected_labels_short: 0.8,
  /** Received positives at least this multiple of the expectation (reported, not a signal). */
  expected_labels_excess: 1.25,
  /** A latency quantile grew or shrank by this factor (and by at least an hour). */
  latency_factor: 1.5,
  /** PSI at which a slice mix or the scores count as shifted, and as shifted a lot. */
  psi_shift: 0.1,
  psi_major: 0.25,
} as const;

export const key = (dimension: string, value: string | null) => JSON.stringify([dimension, value]);
export const groupName = (dimension: string, value: string | null) =>
  dimension === '' ? 'overall' : `${dimension}=${value ?? '(missing)'}`;
export const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
export const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} pp`;
export const decimal = (x: number) => x.toFixed(3);
export const relative = (d: Difference) =>
  d.baseline === 0 ? '' : `${d.difference >= 0 ? '+' : '−'}${Math.abs((d.difference / d.baseline) * 100).toFixed(1)}%, `;
export const interval = (d: Difference, format: (x: number) => string) => `95% CI ${format(d.low)} to ${format(d.high)}`;
export const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
export const describeDifference = (d: Difference) =>
  `${decimal(d.baseline)} → ${decimal(d.current)} (${relative(d)}${interval(d, signed)})`;
export const describeShare = (d: Difference) =>
  `${percent(d.baseline)} → ${percent(d.current)} (${points(d.difference)}, ${interval(d, points)})`;

export const EMPTY_COUNTS = (dimension: string, value: string | null): GroupCounts => ({
  dimension,
  value,
  n: 0,
  n_labeled: 0,
  n_final: 0,
  n_positive: 0,
  tp: 0,
  fp: 0,
});

/** The groups of both sides, overall first, then slices as the cohort lists them, then those only the baseline has. */
export function pairGroups(
  current: SideFacts,
  baseline: SideFacts,
): Array<{ dimension: string; value: string | null; current: GroupCounts; baseline: GroupCounts }> {
  const order = (groups: GroupCounts[]) => [...groups].sort((a, b) => (a.dimension === '' ? -1 : 0) - (b.dimension === '' ? -1 : 0));
  const pairs = new Map<string, { dimension: string; value: string | null; current: GroupCounts; baseline: GroupCounts }>();
  for (const group of order(current.groups))
    pairs.set(key(group.dimension, group.value), {
      dimension: group.dimension,
      value: group.value,
      current: group,
      baseline: EMPTY_COUNTS(group.dimension, group.value),
    });
  for (const group of order(baseline.groups)) {
    const pair = pairs.get(key(group.dimension, group.value));
    if (pair) pair.baseline = group;
    else
      pairs.set(key(group.dimension, group.value), {
        dimension: group.dimension,
        value: group.value,
        current: EMPTY_COUNTS(group.dimension, group.value),
        baseline: group,
      });
  }
  return [...pairs.values()];
}

export const withInterval = (d: Difference | null) =>
  d === null ? null : { current: d.current, baseline: d.baseline, difference: d.difference, ci_low: d.low, ci_high: d.high };

/** The verdict from the checks' signals. */
export function verdictOf(checks: readonly Check[]): 'quality' | 'labeling' | 'both' | 'none' {
  const labeling = checks.some((check) => check.signal === 'labeling');
  const quality = checks.some((check) => check.signal === 'quality');
  return labeling && quality ? 'both' : labeling ? 'labeling' : quality ? 'quality' : 'none';
}
