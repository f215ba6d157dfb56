/**
 * The checks of a diagnosis that look at the labels: availability against the baseline, the
 * positives received against what the scores and the latency history expect, and the label
 * feed's latency. Pure functions of the gathered facts (./facts); thresholds in {@link RULES}.
 */
import type { EstimatedGroup } from '../estimate/cbpe';
import type { LatencyQuantiles, SliceLatency } from '../evaluate/label-latency';
import { type Check, describeShare, groupName, key, pairGroups, percent, RULES, withInterval } from './checks';
import type { SideFacts } from './facts';
import { isMaterialChange, isMaterialDrop, proportionDifference, Z95 } from './intervals';

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
