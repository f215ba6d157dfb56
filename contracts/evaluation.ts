/**
 * The evaluation document (`evaluate --json`, the `metric_snapshots.document` column) and the
 * blocks it is made of: what every capability reads of a measured cohort (docs/metrics.md).
 */
import type { BinaryMetrics, RegressionMetrics } from '../stats/finish-metrics';
import type { PropensityWeightedMetrics } from '../stats/propensity-weighted';
import type { RankingMetrics } from '../stats/ranking-metrics';
import type { TrafficComparison } from '../stats/traffic-comparison';
import type { CohortSelector } from './cohort';
import type { LabelDefinition } from './label-definition';

export interface JoinCounts {
  by_prediction_id: number;
  by_request_item: number;
  by_entity_window: number;
  rejected_before_prediction: number;
  outside_window: number;
  unmatched: number;
}

/** A group's suite; under a ranking definition also its per-request `ranking` metrics (docs/metrics.md). */
export type GroupMetrics = (BinaryMetrics | RegressionMetrics) & { ranking?: RankingMetrics };

/**
 * The suite on exploration traffic (`is_exploration`) and on the rest, the policy's own, side
 * by side, with the headline metrics' intervals and a warning when they differ beyond them
 * (docs/metrics.md). Null when no prediction of the cohort was exploration traffic.
 */
export interface TrafficBlock {
  exploration: GroupMetrics;
  policy: GroupMetrics;
  comparison: TrafficComparison[];
  selection_bias_warning: string | null;
}
export type SliceMetrics = GroupMetrics & { dimension: string; value: string | null };

/** The evaluation document that `evaluate --json` prints (docs/metrics.md). */
export interface EvaluationDocument {
  cohort: CohortSelector;
  label_definition: { name: string; version: number; task: LabelDefinition['task']; window: string };
  as_of: string;
  overall: GroupMetrics;
  slices: SliceMetrics[];
  join: JoinCounts;
  /**
   * Cohort predictions left out of every metric: `invalid_score`, scored outside [0, 1] (or
   * NaN) under a binary definition, so no such score enters Brier or log loss (docs/metrics.md).
   */
  excluded: {
    invalid_score: number;
    /** Ranking definitions: labeled predictions that name no request_id, left out of the ranking metrics. */
    without_request?: number;
    /** Predictions that log no score (allowed with an action and a position), left out of every score metric; only when some do. */
    no_score?: number;
    /** `decision_source: logged` only: predictions that logged no decision, left out of every metric. */
    no_decision?: number;
  };
  /** Changes exactly when some prediction's label or finality changes; decides late-label revisions. */
  label_fingerprint: string;
  /**
   * Provisional snapshots only: recall, precision and the positive rate projected to
   * finalization from the completeness of earlier finalized cohorts (docs/diagnose.md); null
   * when there is no finalized history to project from.
   */
  projected?: ProjectedMetrics | null;
  traffic: TrafficBlock | null;
  /** Only when asked for (`evaluate --propensity-weighted`, binary definitions). */
  propensity_weighted?: PropensityWeightedMetrics;
  /** Only when asked for (the lifecycle's final snapshots): see {@link LabelLag}. */
  label_lag?: LabelLag;
}

/**
 * Seconds from each labeled prediction to the receipt of its first joined outcome, over the
 * `n` predictions that have one; quantiles null when none has (docs/dashboards.md).
 */
export interface LabelLag {
  n: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** A provisional number, the value projected to finalization and its 95% interval. */
export interface ProjectedValue {
  observed: number | null;
  projected: number | null;
  ci_low: number | null;
  ci_high: number | null;
}

export interface ProjectedGroup {
  recall: ProjectedValue;
  precision: ProjectedValue;
  positive_rate: ProjectedValue;
}

/** The completeness the projection divides by: the share of each kind of eventual label finalized cohorts knew at the checkpoint. */
export interface CellCompleteness {
  flagged_positives: number | null;
  unflagged_positives: number | null;
  /** Explicit negatives, flagged and not; null under `absent_means: negative`, where a negative needs no outcome. */
  flagged_negatives: number | null;
  unflagged_negatives: number | null;
}

export interface ProjectedMetrics {
  checkpoint: string;
  as_of: string;
  /** Share of eventual positives finalized cohorts had received by this checkpoint (the latency history's expected completeness). */
  expected_completeness: number;
  completeness: CellCompleteness;
  history_cohorts: string[];
  overall: ProjectedGroup;
  slices: Array<ProjectedGroup & { dimension: string; value: string | null }>;
}
