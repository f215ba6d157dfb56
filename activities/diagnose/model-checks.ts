/**
 * The checks of a diagnosis that look at the model: recall and precision at equal maturity, on
 * comparable slices (reweighted to the baseline's mix), the slice mix and the scores' shift, and
 * the label-free estimate. Pure functions of the gathered facts (./facts); thresholds in {@link RULES}.
 */
import { computePsi } from '../../stats/drift';
import type { EstimatedGroup } from '../estimate/cbpe';
import { type Check, describeDifference, EMPTY_COUNTS, key, pairGroups, percent, relative, RULES, withInterval } from './checks';
import type { VariableDrift } from './drift';
import type { GroupCounts, SideFacts } from './facts';
import { type Difference, isMaterialDrop, normalDifference, proportionDifference } from './intervals';

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
export function comparableSlicesCheck(
  current: SideFacts,
  baseline: SideFacts,
  changed: Set<string>,
  dimensions: readonly string[],
  metricDrop: number = RULES.metric_drop,
): Check {
  const pairs = pairGroups(current, baseline);
  const subsets = (dimensions.length === 0 ? [''] : dimensions).map((dimension) => {
    const members = pairs.filter((pair) => pair.dimension === dimension);
    const kept = members.filter((pair) => !changed.has(key(pair.dimension, pair.value)));
    const recall = reweighted(kept, recallOf);
    const precision = reweighted(kept, precisionOf);
    const fell = (d: Difference | null) => d !== null && isMaterialDrop(d, metricDrop, { relative: true });
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
      minimum_relative_drop: metricDrop,
      subsets: subsets.map((s) => ({ ...s, recall: withInterval(s.recall), precision: withInterval(s.precision) })),
    },
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

function estimateDifferences(current: EstimatedGroup, baseline: EstimatedGroup, metricDrop: number) {
  return Object.fromEntries(
    ESTIMATED.map((metric) => {
      const c = current[metric];
      const b = baseline[metric];
      const d =
        c === null || b === null ? null : normalDifference(c, current.standard_error[metric] ?? 0, b, baseline.standard_error[metric] ?? 0);
      return [metric, { difference: d, fell: d !== null && isMaterialDrop(d, metricDrop, { relative: true }) }];
    }),
  ) as Record<(typeof ESTIMATED)[number], { difference: Difference | null; fell: boolean }>;
}

/**
 * The label-free estimate (CBPE) of the cohort against the baseline's: a material fall in
 * estimated recall, precision or ROC AUC, beyond its interval, points at the model, whatever
 * the labels say.
 */
export function estimatedPerformanceCheck(current: SideFacts, baseline: SideFacts, metricDrop: number = RULES.metric_drop): Check {
  const overall = estimateDifferences(current.estimate.overall, baseline.estimate.overall, metricDrop);
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
          `(the estimate assumes ${current.estimate.calibration === 'none' ? 'calibrated scores' : "the baseline's calibration holds"}, ` +
          `so it cannot see a change in how labels follow the scores)`,
    evidence: {
      minimum_relative_drop: metricDrop,
      /** How the scores were read as probabilities: calibrated on the baseline's labels (isotonic, platt) or as they are (none). */
      calibration: current.estimate.calibration,
      overall: Object.fromEntries(
        ESTIMATED.map((metric) => [metric, { ...withInterval(overall[metric].difference), fell: overall[metric].fell }]),
      ),
      slices: current.estimate.slices.map((slice) => {
        const other = baseline.estimate.slices.find((b) => b.dimension === slice.dimension && b.value === slice.value);
        const differences = other ? estimateDifferences(slice, other, metricDrop) : null;
        return {
          dimension: slice.dimension,
          value: slice.value,
          ...Object.fromEntries(ESTIMATED.map((metric) => [metric, differences ? withInterval(differences[metric].difference) : null])),
        };
      }),
    },
  };
}
