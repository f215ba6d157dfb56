/**
 * The checks of a diagnosis (docs/diagnose.md), each a pure function of the facts gathered
 * for the cohort and its baseline: a finding in words, the numbers behind it, and whether it
 * points at the labels, at the model's quality, or at neither. The thresholds are
 * {@link RULES}; every difference is judged by its 95% interval (./intervals).
 */
import type { EstimatedGroup } from '../estimate/cbpe';
import type { LatencyQuantiles, SliceLatency } from '../evaluate/label-latency';
import { computePsi } from '../../stats/drift';
import type { VariableDrift } from './drift';
import type { GroupCounts, SideFacts } from './facts';
import { isMaterialChange, isMaterialDrop, normalDifference, proportionDifference, Z95, type Difference } from './intervals';

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

const key = (dimension: string, value: string | null) => JSON.stringify([dimension, value]);
export const groupName = (dimension: string, value: string | null) =>
  dimension === '' ? 'overall' : `${dimension}=${value ?? '(missing)'}`;
const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} pp`;
const decimal = (x: number) => x.toFixed(3);
const relative = (d: Difference) =>
  d.baseline === 0 ? '' : `${d.difference >= 0 ? '+' : '−'}${Math.abs((d.difference / d.baseline) * 100).toFixed(1)}%, `;
const interval = (d: Difference, format: (x: number) => string) => `95% CI ${format(d.low)} to ${format(d.high)}`;
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
const describeDifference = (d: Difference) => `${decimal(d.baseline)} → ${decimal(d.current)} (${relative(d)}${interval(d, signed)})`;
const describeShare = (d: Difference) => `${percent(d.baseline)} → ${percent(d.current)} (${points(d.difference)}, ${interval(d, points)})`;

const EMPTY_COUNTS = (dimension: string, value: string | null): GroupCounts => ({
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
function pairGroups(
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

const withInterval = (d: Difference | null) =>
  d === null ? null : { current: d.current, baseline: d.baseline, difference: d.difference, ci_low: d.low, ci_high: d.high };

/**
 * Label availability (n_final / n), overall and per slice, against the baseline at the same
 * maturity. A group whose availability moved by {@link RULES.availability_change} or more,
 * beyond its interval, has changed labels; a fall points at the labels.
 */
export function labelAvailabilityCheck(current: SideFacts, baseline: SideFacts): { check: Check; changed: Set<string> } {
  const changed = new Set<string>();
  const groups = pairGroups(current, baseline).map((pair) => {
    const d = proportionDifference(pair.current.n_final, pair.current.n, pair.baseline.n_final, pair.baseline.n);
    const moved = d !== null && isMaterialChange(d, RULES.availability_change);
    if (moved) changed.add(key(pair.dimension, pair.value));
    return { pair, d, moved, fell: d !== null && isMaterialDrop(d, RULES.availability_change) };
  });
  const fell = groups.filter((g) => g.fell);
  const overall = groups.find((g) => g.pair.dimension === '')!;
  const moved = groups.filter((g) => g.moved && g.pair.dimension !== '');
  const describe = (g: (typeof groups)[number]) =>
    `${groupName(g.pair.dimension, g.pair.value)} ${g.d === null ? 'not comparable (no predictions on one side)' : describeShare(g.d)}`;
  let finding: string;
  if (fell.length > 0) finding = `label availability fell: ${[overall, ...moved].map(describe).join('; ')}`;
  else if (moved.length > 0 || overall.moved)
    finding = `label availability rose, none fell: ${[overall, ...moved].map(describe).join('; ')}`;
  else finding = `label availability unchanged: ${describe(overall)}; no slice moved by ${RULES.availability_change * 100} pp or more`;
  return {
    changed,
    check: {
      name: 'label_availability',
      signal: fell.length > 0 ? 'labeling' : null,
      finding,
      evidence: {
        minimum_change: RULES.availability_change,
        groups: groups.map((g) => ({
          dimension: g.pair.dimension,
          value: g.pair.value,
          current: { n: g.pair.current.n, n_final: g.pair.current.n_final },
          baseline: { n: g.pair.baseline.n, n_final: g.pair.baseline.n_final },
          availability: withInterval(g.d),
          changed: g.moved,
        })),
      },
    },
  };
}

function completenessAt(latency: { expected_completeness: SliceLatency['expected_completeness'] }) {
  return latency.expected_completeness.find((c) => c.checkpoint === 'as_of');
}

/**
 * Positives received by now against the expected curve: the cohort's Σ score times the
 * share of their Σ score that finalized cohorts had received as positives by the same lag
 * (so label coverage and the scores' calibration are taken as the history had them).
 * Received positives at most {@link RULES.expected_labels_short} of that, beyond a 95% band,
 * point at the labels.
 */
export function expectedLabelsCheck(current: SideFacts, historyExpected: Map<string, number>): Check {
  const history = current.latency.history_cohorts;
  if (history.length === 0) {
    return {
      name: 'label_availability_expected',
      signal: null,
      finding: 'no finalized cohort of this model and label definition to expect label completeness from',
      evidence: { history_cohorts: [] },
    };
  }
  const latencyGroups = [{ dimension: '', value: '' as string | null, ...current.latency.overall }, ...current.latency.slices];
  const estimates: Array<EstimatedGroup & { dimension: string; value: string | null }> = [
    { dimension: '', value: '', ...current.estimate.overall },
    ...current.estimate.slices,
  ];
  const groups = current.groups.flatMap((group) => {
    const latency = latencyGroups.find((l) => l.dimension === group.dimension && l.value === group.value);
    const estimate = estimates.find((e) => e.dimension === group.dimension && e.value === group.value);
    const known = latency ? (completenessAt(latency)?.known ?? 0) : 0;
    const historySum = historyExpected.get(key(group.dimension, group.value)) ?? 0;
    if (!estimate || historySum === 0) return [];
    const rate = known / historySum;
    const expected = rate * estimate.expected_positives;
    const variance = Math.max(0, rate * estimate.expected_positives * (1 - rate)) + rate * rate * estimate.positives_variance;
    const z = variance > 0 ? (group.n_positive - expected) / Math.sqrt(variance) : null;
    const ratio = expected > 0 ? group.n_positive / expected : null;
    return [
      {
        dimension: group.dimension,
        value: group.value,
        received_positives: group.n_positive,
        expected_positives: expected,
        ratio,
        z,
        history_received_per_expected: rate,
        short: ratio !== null && z !== null && ratio <= RULES.expected_labels_short && z <= -Z95,
        excess: ratio !== null && z !== null && ratio >= RULES.expected_labels_excess && z >= Z95,
      },
    ];
  });
  const describe = (g: (typeof groups)[number]) =>
    `${groupName(g.dimension, g.value)} ${g.received_positives} received of ${g.expected_positives.toFixed(0)} expected` +
    `${g.ratio === null ? '' : ` (${percent(g.ratio)})`}`;
  const short = groups.filter((g) => g.short);
  const excess = groups.filter((g) => g.excess);
  const overall = groups.find((g) => g.dimension === '');
  const parts: string[] = [];
  if (short.length > 0)
    parts.push(
      `fewer positives received than the scores and ${history.length} finalized cohort(s) expect by this lag: ` +
        `${short.map(describe).join('; ')}`,
    );
  if (excess.length > 0)
    parts.push(
      `more positives than the scores expect: ${excess.map(describe).join('; ')}; ` +
        `the scores understate the positives, which the label-free estimate cannot see`,
    );
  if (parts.length === 0)
    parts.push(
      overall
        ? `positives received as the scores and ${history.length} finalized cohort(s) expect: ${describe(overall)}`
        : 'no group to compare',
    );
  return {
    name: 'label_availability_expected',
    signal: short.length > 0 ? 'labeling' : null,
    finding: parts.join('; '),
    evidence: { history_cohorts: history, short_below: RULES.expected_labels_short, groups },
  };
}

const recallOf = (g: GroupCounts) => ({ k: g.tp, n: g.n_positive });
const precisionOf = (g: GroupCounts) => ({ k: g.tp, n: g.tp + g.fp });

/** Recall and precision as labeled, the cohort as of its as-of against the baseline as of its own: what is to be explained. */
export function equalMaturityCheck(current: SideFacts, baseline: SideFacts): Check {
  const overall = (side: SideFacts) => side.groups.find((g) => g.dimension === '') ?? EMPTY_COUNTS('', '');
  const lag = (side: SideFacts) => (Date.parse(side.as_of) - Date.parse(side.cohort.end)) / 1000;
  const metrics = {
    recall: proportionDifference(
      recallOf(overall(current)).k,
      recallOf(overall(current)).n,
      recallOf(overall(baseline)).k,
      recallOf(overall(baseline)).n,
    ),
    precision: proportionDifference(
      precisionOf(overall(current)).k,
      precisionOf(overall(current)).n,
      precisionOf(overall(baseline)).k,
      precisionOf(overall(baseline)).n,
    ),
  };
  const same = lag(current) === lag(baseline);
  const described = Object.entries(metrics).map(([name, d]) => `${name} ${d === null ? 'undefined on one side' : describeDifference(d)}`);
  return {
    name: 'metric_at_equal_maturity',
    signal: null,
    finding:
      `as labeled, ${described.join('; ')}; ` +
      (same
        ? `both judged ${(lag(current) / 86400).toFixed(1)} days after their end`
        : `judged ${(lag(current) / 86400).toFixed(1)} and ${(lag(baseline) / 86400).toFixed(1)} days after their ends ` +
          `(not the same maturity)`),
    evidence: {
      lag_seconds: { current: lag(current), baseline: lag(baseline) },
      recall: withInterval(metrics.recall),
      precision: withInterval(metrics.precision),
    },
  };
}

type Rate = (g: GroupCounts) => { k: number; n: number };

/**
 * A rate over the kept slices of one dimension: the cohort's slice rates weighted by the
 * baseline's slice mix (its denominators), against the baseline's pooled rate, with the
 * normal interval of the difference (binomial variance per slice).
 */
function reweighted(kept: Array<{ current: GroupCounts; baseline: GroupCounts }>, rate: Rate): Difference | null {
  const usable = kept.filter((pair) => rate(pair.current).n > 0 && rate(pair.baseline).n > 0);
  const total = usable.reduce((sum, pair) => sum + rate(pair.baseline).n, 0);
  if (total === 0) return null;
  let current = 0;
  let currentVariance = 0;
  let baselineK = 0;
  for (const pair of usable) {
    const weight = rate(pair.baseline).n / total;
    const p = rate(pair.current).k / rate(pair.current).n;
    current += weight * p;
    currentVariance += (weight * weight * p * (1 - p)) / rate(pair.current).n;
    baselineK += rate(pair.baseline).k;
  }
  const baseline = baselineK / total;
  return normalDifference(current, Math.sqrt(currentVariance), baseline, Math.sqrt((baseline * (1 - baseline)) / total));
}

/**
 * Recall and precision recomputed where the labels are comparable: per slice dimension, on
 * the slices whose label availability did not change, the cohort reweighted to the
 * baseline's slice mix. A material drop there (beyond its interval) points at the model.
 */
export function comparableSlicesCheck(current: SideFacts, baseline: SideFacts, changed: Set<string>, dimensions: readonly string[]): Check {
  const pairs = pairGroups(current, baseline);
  const subsets = (dimensions.length === 0 ? [''] : dimensions).map((dimension) => {
    const members = pairs.filter((pair) => pair.dimension === dimension);
    const kept = members.filter((pair) => !changed.has(key(pair.dimension, pair.value)));
    const recall = reweighted(kept, recallOf);
    const precision = reweighted(kept, precisionOf);
    const fell = (d: Difference | null) => d !== null && isMaterialDrop(d, RULES.metric_drop, { relative: true });
    return {
      dimension,
      kept: kept.map((pair) => pair.value),
      excluded: members.filter((pair) => changed.has(key(pair.dimension, pair.value))).map((pair) => pair.value),
      recall,
      precision,
      recall_fell: fell(recall),
      precision_fell: fell(precision),
    };
  });
  const comparable = subsets.filter((s) => s.kept.length > 0 && (s.recall !== null || s.precision !== null));
  const fell = comparable.filter((s) => s.recall_fell || s.precision_fell);
  const describe = (s: (typeof subsets)[number]) => {
    const where =
      s.dimension === ''
        ? 'overall (labels unchanged)'
        : `${s.dimension} in {${s.kept.map((v) => v ?? '(missing)').join(', ')}}` +
          (s.excluded.length > 0 ? `, leaving out {${s.excluded.map((v) => v ?? '(missing)').join(', ')}} whose labels changed` : '');
    return (
      `${where}: recall ${s.recall === null ? 'undefined' : describeDifference(s.recall)}; ` +
      `precision ${s.precision === null ? 'undefined' : describeDifference(s.precision)}`
    );
  };
  let finding: string;
  if (comparable.length === 0) finding = 'no comparable subset: the labels changed in every slice';
  else if (fell.length > 0)
    finding = `the metric falls where the labels did not change, reweighted to the baseline's slice mix: ${fell.map(describe).join('; ')}`;
  else
    finding =
      `no material fall where the labels did not change, reweighted to the baseline's slice mix: ` +
      `${comparable.map(describe).join('; ')}`;
  return {
    name: 'metric_on_comparable_slices',
    signal: fell.length > 0 ? 'quality' : null,
    finding,
    evidence: {
      minimum_relative_drop: RULES.metric_drop,
      subsets: subsets.map((s) => ({ ...s, recall: withInterval(s.recall), precision: withInterval(s.precision) })),
    },
  };
}

const days = (seconds: number) => (seconds >= 86400 ? `${(seconds / 86400).toFixed(1)} d` : `${(seconds / 3600).toFixed(1)} h`);

/** Received − event, p50 and p90, overall and per slice, against the baseline: a slower label feed. */
export function labelLatencyCheck(current: SideFacts, baseline: SideFacts): Check {
  const groupsOf = (side: SideFacts) => [{ dimension: '', value: '' as string | null, ...side.latency.overall }, ...side.latency.slices];
  const baselineGroups = groupsOf(baseline);
  const shifted = (a: LatencyQuantiles | null, b: LatencyQuantiles | null) =>
    a !== null &&
    b !== null &&
    (['p50', 'p90'] as const).some(
      (q) => Math.abs(a[q] - b[q]) >= 3600 && (a[q] >= b[q] * RULES.latency_factor || b[q] >= a[q] * RULES.latency_factor),
    );
  const groups = groupsOf(current).map((group) => {
    const other = baselineGroups.find((b) => b.dimension === group.dimension && b.value === group.value);
    const now = group.received_minus_event;
    const before = other?.received_minus_event ?? null;
    return {
      dimension: group.dimension,
      value: group.value,
      n: { current: group.n, baseline: other?.n ?? 0 },
      current: now,
      baseline: before,
      shifted: shifted(now, before),
    };
  });
  const describe = (g: (typeof groups)[number]) =>
    `${groupName(g.dimension, g.value)} p50 ${g.baseline ? days(g.baseline.p50) : '—'} → ${g.current ? days(g.current.p50) : '—'}, ` +
    `p90 ${g.baseline ? days(g.baseline.p90) : '—'} → ${g.current ? days(g.current.p90) : '—'}`;
  const moved = groups.filter((g) => g.shifted);
  return {
    name: 'label_latency',
    signal: null,
    finding:
      moved.length > 0
        ? `received − event shifted (of the labels received so far): ${moved.map(describe).join('; ')}`
        : `received − event unchanged (of the labels received so far): ${describe(groups[0]!)}`,
    evidence: { factor: RULES.latency_factor, groups },
  };
}

/** Each slice dimension's mix of predictions against the baseline's, as a PSI over its values. */
export function sliceMixCheck(current: SideFacts, baseline: SideFacts, dimensions: readonly string[]): Check {
  const mixes = dimensions.map((dimension) => {
    const values = [...new Set([...current.groups, ...baseline.groups].filter((g) => g.dimension === dimension).map((g) => g.value))];
    const count = (side: SideFacts, value: string | null) =>
      side.groups.find((g) => g.dimension === dimension && g.value === value)?.n ?? 0;
    const psi = computePsi(
      values.map((v) => count(baseline, v)),
      values.map((v) => count(current, v)),
    );
    return {
      dimension,
      psi: psi.psi,
      shifted: psi.psi !== null && psi.psi >= RULES.psi_shift,
      values: values.map((value, i) => ({ value, baseline_share: psi.reference_shares[i]!, current_share: psi.current_shares[i]! })),
    };
  });
  const describe = (m: (typeof mixes)[number]) =>
    `${m.dimension} PSI ${m.psi === null ? '—' : m.psi.toFixed(3)} ` +
    `(${m.values.map((v) => `${v.value ?? '(missing)'} ${percent(v.baseline_share)} → ${percent(v.current_share)}`).join(', ')})`;
  const shifted = mixes.filter((m) => m.shifted);
  return {
    name: 'slice_mix',
    signal: null,
    finding:
      mixes.length === 0
        ? 'the label definition names no slices'
        : shifted.length > 0
          ? `slice mix shifted: ${shifted.map(describe).join('; ')}`
          : `slice mix stable: ${mixes.map(describe).join('; ')}`,
    evidence: { psi_shift: RULES.psi_shift, dimensions: mixes },
  };
}

/** The score distribution against the baseline's (PSI over the baseline's deciles, and KS). */
export function scoreDistributionCheck(score: VariableDrift): Check {
  const psi = score.psi;
  const level = psi === null ? null : psi >= RULES.psi_major ? 'a major shift' : psi >= RULES.psi_shift ? 'a moderate shift' : 'stable';
  return {
    name: 'score_distribution',
    signal: null,
    finding:
      psi === null
        ? `score PSI undefined: ${Object.values(score.undefined_metrics).join('; ')}`
        : `scores ${level}: PSI ${psi.toFixed(3)}, KS ${score.ks === null ? '—' : score.ks.toFixed(3)} ` +
          `(n ${score.n_reference} → ${score.n_current})` +
          (level === 'stable' ? '' : '; the model sees other inputs than in the baseline, or scores them differently'),
    evidence: {
      psi,
      ks: score.ks,
      n_current: score.n_current,
      n_baseline: score.n_reference,
      psi_shift: RULES.psi_shift,
      psi_major: RULES.psi_major,
      bins: score.bins,
    },
  };
}

const ESTIMATED = ['recall', 'precision', 'roc_auc'] as const;

function estimateDifferences(current: EstimatedGroup, baseline: EstimatedGroup) {
  return Object.fromEntries(
    ESTIMATED.map((metric) => {
      const c = current[metric];
      const b = baseline[metric];
      const d =
        c === null || b === null ? null : normalDifference(c, current.standard_error[metric] ?? 0, b, baseline.standard_error[metric] ?? 0);
      return [metric, { difference: d, fell: d !== null && isMaterialDrop(d, RULES.metric_drop, { relative: true }) }];
    }),
  ) as Record<(typeof ESTIMATED)[number], { difference: Difference | null; fell: boolean }>;
}

/**
 * The label-free estimate (CBPE) of the cohort against the baseline's: a material fall in
 * estimated recall, precision or ROC AUC, beyond its interval, points at the model, whatever
 * the labels say.
 */
export function estimatedPerformanceCheck(current: SideFacts, baseline: SideFacts): Check {
  const overall = estimateDifferences(current.estimate.overall, baseline.estimate.overall);
  const fell = ESTIMATED.filter((metric) => overall[metric].fell);
  const described = ESTIMATED.map(
    (metric) => `${metric} ${overall[metric].difference === null ? 'undefined' : describeDifference(overall[metric].difference!)}`,
  );
  return {
    name: 'estimated_performance',
    signal: fell.length > 0 ? 'quality' : null,
    finding:
      fell.length > 0
        ? `the scores alone expect worse performance: ${described.join('; ')}`
        : `the scores alone expect no material fall: ${described.join('; ')} ` +
          `(the estimate assumes calibrated scores, so it cannot see a change in how labels follow the scores)`,
    evidence: {
      minimum_relative_drop: RULES.metric_drop,
      overall: Object.fromEntries(
        ESTIMATED.map((metric) => [metric, { ...withInterval(overall[metric].difference), fell: overall[metric].fell }]),
      ),
      slices: current.estimate.slices.map((slice) => {
        const other = baseline.estimate.slices.find((b) => b.dimension === slice.dimension && b.value === slice.value);
        const differences = other ? estimateDifferences(slice, other) : null;
        return {
          dimension: slice.dimension,
          value: slice.value,
          ...Object.fromEntries(ESTIMATED.map((metric) => [metric, differences ? withInterval(differences[metric].difference) : null])),
        };
      }),
    },
  };
}

/** The verdict from the checks' signals. */
export function verdictOf(checks: readonly Check[]): 'quality' | 'labeling' | 'both' | 'none' {
  const labeling = checks.some((check) => check.signal === 'labeling');
  const quality = checks.some((check) => check.signal === 'quality');
  return labeling && quality ? 'both' : labeling ? 'labeling' : quality ? 'quality' : 'none';
}
