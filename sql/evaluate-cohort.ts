/**
 * The metric SQL of one cohort evaluation (docs/metrics.md): sufficient
 * statistics per (dimension, value) group over `hs_labeled` (see ./join-outcomes), the
 * overall group being dimension '' with value ''. SQL only counts and sums; the metrics are
 * finished in TypeScript (stats/), where they are tested against scikit-learn.
 *
 * Binary metrics are in ./binary-metrics; regression, one hash-aggregate pass, is here.
 *
 * Values are always bound (knex named bindings); the only text spliced in is built from
 * constants in this file.
 */

import { sliceColumn, sliceGroups } from './slice-values';

/** Bindings every statement below expects. */
export interface EvaluationBindings {
  model: string;
  version: string;
  environment: string | null;
  start_ts: string;
  end_ts: string;
  as_of: string;
  label_window: string;
  leakage_horizon: string;
  outcome_types: string[];
  positive_types: string[];
  entity_key: string | null;
  absent_negative: boolean;
  regression: boolean;
  default_threshold: number;
  /** `decision_source: logged`: a prediction's logged decision decides it, not its score. */
  logged_decisions: boolean;
  positive_decisions: string[];
  dims: string[];
  [key: string]: unknown;
}

/**
 * Changes exactly when some prediction's label or finality changes (it decides late-label
 * revisions): an XOR of per-prediction hashes seeded by the label state, cheap per row.
 */
export const FINGERPRINT = (labelSeed: string) => `bit_xor(uuid_hash_extended(l.prediction_id, ${labelSeed}))`;

/** The threshold curve's grid, j / 20 for j = 0..20 (0, 0.05, …, 1). */
export const THRESHOLD_GRID: readonly number[] = Array.from({ length: 21 }, (_, j) => j / 20);

/**
 * Regression in the same shape: one pass down to one row per slice-value combination with
 * mergeable sums (count, mean and sum of squared deviations of the target, so the total
 * sum of squares merges exactly rather than by the unstable Σt² − (Σt)²/n), then summed
 * per group.
 */
export function regressionMetrics(dims: readonly string[]): string {
  const columns = dims.map((_, i) => `l.${sliceColumn(i)}`);
  return `
with base as materialized (
  select ${[...columns, ''].join(', ')}
         count(*) as n,
         count(l.target) as n_labeled,
         count(*) filter (where l.is_final) as n_final,
         sum(l.score) filter (where l.target is not null) as score_sum,
         avg(l.target) as mean_target,
         var_pop(l.target) * count(l.target) as m2_target,
         min(l.target) as min_target,
         max(l.target) as max_target,
         sum(abs(l.score - l.target)) as abs_error_sum,
         sum((l.score - l.target) ^ 2) as ss_res,
         sum(l.score - l.target) as error_sum,
         ${FINGERPRINT('coalesce(hashfloat8extended(l.target, l.is_final::int), l.is_final::int)')} as fingerprint
  from hs_labeled l
  ${columns.length === 0 ? '' : `group by ${columns.join(', ')}`}
),
expanded as (
  select g.dim, g.val, b.*,
         sum(b.n_labeled * b.mean_target) over (partition by g.dim, g.val)
           / nullif(sum(b.n_labeled) over (partition by g.dim, g.val), 0) as group_mean_target
  from base b
  ${sliceGroups(dims, 'b')}
)
select dim, val,
       sum(n) as n,
       sum(n_labeled) as n_labeled,
       sum(n_final) as n_final,
       sum(score_sum) / nullif(sum(n_labeled), 0) as mean_score,
       sum(n_labeled * mean_target) / nullif(sum(n_labeled), 0) as mean_target,
       min(min_target) as min_target,
       max(max_target) as max_target,
       sum(abs_error_sum) / nullif(sum(n_labeled), 0) as mae,
       sum(ss_res) / nullif(sum(n_labeled), 0) as mse,
       sum(error_sum) / nullif(sum(n_labeled), 0) as bias,
       sum(ss_res) as ss_res,
       sum(m2_target + n_labeled * (mean_target - group_mean_target) ^ 2) as ss_tot,
       (bit_xor(fingerprint) filter (where dim = ''))::text as fingerprint
from expanded
group by dim, val`;
}
