/**
 * The metric SQL of one cohort evaluation (DESIGN "Metrics", docs/metrics.md): sufficient
 * statistics per (dimension, value) group over `hs_labeled` (see ./join-outcomes), the
 * overall group being dimension '' with value ''. SQL only counts and sums; the metrics are
 * finished in TypeScript (activities/stats), where they are tested against scikit-learn.
 *
 * Binary, in one pass over the rows: they are aggregated to one row per (slice values,
 * score, label, decision, finality), which is what every later step reads (for scores with
 * few distinct values, as from a rounded model, this is the only step that touches a
 * million rows); group totals are summed from it; one window pass per (group, distinct score) gives the ranks the
 * curves need (ROC, PR, KS, quantile edges); one hash aggregate per group and bin
 * combination gives the bins, which TypeScript adds up per binning.
 *
 * Values are always bound (knex named bindings); the only text spliced in is built from
 * constants in this file.
 */

/** Bindings every statement below expects. */
export interface EvaluationBindings {
  model: string;
  version: string;
  environment: string | null;
  start_ts: string;
  end_ts: string;
  as_of: string;
  label_window: string;
  outcome_types: string[];
  positive_types: string[];
  entity_key: string | null;
  absent_negative: boolean;
  regression: boolean;
  default_threshold: number;
  dims: string[];
  [key: string]: unknown;
}

/**
 * Changes exactly when some prediction's label or finality changes (it decides late-label
 * revisions): an XOR of per-prediction hashes seeded by the label state, cheap per row.
 */
const FINGERPRINT = (labelSeed: string) => `bit_xor(uuid_hash_extended(l.prediction_id, ${labelSeed}))`;

/**
 * numpy.linspace(0, 1, 11), which sklearn's calibration_curve uses: k * 0.1 in float64, so
 * 0.1 * 3 is 0.30000000000000004 while the literal 0.3 lies below it.
 */
const UNIFORM_EDGES = `array[${Array.from({ length: 9 }, (_, k) => `0.1::float8 * ${k + 1}`).join(', ')}]`;

/** The threshold curve's grid, j / 20 for j = 0..20 (0, 0.05, …, 1). */
export const THRESHOLD_GRID: readonly number[] = Array.from({ length: 21 }, (_, j) => j / 20);
const THRESHOLD_EDGES = `array[${THRESHOLD_GRID.map((_, j) => `${j}::float8 / 20`).join(', ')}]`;

const CLIPPED = 'least(greatest(score, 1e-15::float8), 1 - 1e-15::float8)';

/**
 * numpy.percentile(p, linspace(0, 1, 11) * 100), method "linear", which sklearn's quantile
 * calibration_curve uses: for k = 0..10, q = (k * 0.1) * 100 / 100 (1 at the end), index
 * v = (n - 1) * q, lo = floor(v), hi = min(lo + 1, n - 1), gamma = v - lo. Per group, once.
 */
const QUANTILE_Q = (k: number) => (k === 10 ? '1::float8' : `((0.1::float8 * ${k}) * 100 / 100)`);
const QUANTILE_V = (k: number) => `((total - 1)::float8 * ${QUANTILE_Q(k)})`;
const QUANTILE_RANKS = `
         array[${Array.from({ length: 11 }, (_, k) => `floor(${QUANTILE_V(k)})::bigint`).join(', ')}] as lo,
         array[${Array.from({ length: 11 }, (_, k) => `least(floor(${QUANTILE_V(k)})::bigint + 1, total - 1)`).join(', ')}] as hi,
         array[${Array.from({ length: 11 }, (_, k) => `${QUANTILE_V(k)} - floor(${QUANTILE_V(k)})`).join(', ')}] as gamma`;

/**
 * Edge k of a score row that holds rank hi[k]: numpy's lerp between the values at ranks
 * lo[k] (this score, or the previous distinct one) and hi[k] (this score), in numpy's
 * two-sided form so the float64 result is the same bit for bit.
 */
const EDGE_AT = (k: string) => {
  const a = `(case when r.below <= r.lo[${k} + 1] then r.score else r.prev_score end)`;
  const g = `r.gamma[${k} + 1]`;
  return `(case when ${g} >= 0.5 then r.score - (r.score - ${a}) * (1 - ${g}) else ${a} + (r.score - ${a}) * ${g} end)`;
};
const HOLDS_HI = (k: string) => `(r.hi[${k} + 1] >= r.below and r.hi[${k} + 1] < r.below + r.n_labeled)`;
/** Whether this score row holds any of the ranks in `ranks` (cheap: two binary searches). */
const HOLDS_ANY = (ranks: string) => `width_bucket(r.below + r.n_labeled - 1, ${ranks}) > width_bucket(r.below - 1, ${ranks})`;

/**
 * Each row of `source` (aliased b; it has the slice columns region, environment,
 * model_version, segment) once per group it belongs to: overall ('' / '') and one per
 * slice dimension.
 */
const expandedBy = (source: string) => `
  ${source} b
  cross join unnest(array['']::text[] || :dims::text[]) as d(dim)
  cross join lateral (select case d.dim when '' then ''
                                       when 'region' then b.region
                                       when 'environment' then b.environment
                                       when 'model_version' then b.model_version
                                       else b.segment ->> substr(d.dim, 9) end as val) g`;
const EXPANDED_BASE = expandedBy('base');

export const BINARY_METRICS = `
with base as materialized (
  -- The only pass over the rows: one row per (slice values, score, label, decision,
  -- finality) with its count. Slice columns the definition does not name are nulled so
  -- they do not split groups (each test an uncorrelated subquery, so it runs once).
  select case when (select 'region' = any(:dims::text[])) then l.region end as region,
         case when (select 'environment' = any(:dims::text[])) then l.environment end as environment,
         case when (select 'model_version' = any(:dims::text[])) then l.model_version end as model_version,
         case when (select bool_or(dim like 'segment.%') from unnest(:dims::text[]) as dims(dim)) then l.segment end as segment,
         case when l.y is not null then l.score end as score,
         l.y,
         l.score >= l.threshold as flagged,
         l.is_final,
         count(*)::int as n,
         sum(l.outcome_value) as value_sum,
         ${FINGERPRINT('coalesce(l.y, 2) * 2 + l.is_final::int')} as fingerprint
  from hs_labeled l
  group by 1, 2, 3, 4, 5, 6, 7, 8
),
-- Per slice-value combination, every total that needs no ranks (all of them sums), so the
-- group totals below add up a handful of rows however many distinct scores there are.
combos as (
  select region, environment, model_version, segment,
         sum(n) as n,
         coalesce(sum(n) filter (where y is not null), 0) as n_labeled,
         coalesce(sum(n) filter (where is_final), 0) as n_final,
         coalesce(sum(n) filter (where y = 1), 0) as n_positive,
         coalesce(sum(n) filter (where y = 1 and flagged), 0) as tp,
         coalesce(sum(n) filter (where y = 0 and flagged), 0) as fp,
         coalesce(sum(value_sum) filter (where y = 1 and flagged), 0) as value_caught,
         coalesce(sum(value_sum) filter (where y = 1 and not flagged), 0) as value_missed,
         sum(score * n) as score_sum,
         sum(n * (score - y) ^ 2) as brier_sum,
         -sum(n * (y * ln(${CLIPPED}) + (1 - y) * ln(1 - ${CLIPPED}))) as log_loss_sum,
         bit_xor(fingerprint) as fingerprint
  from base
  group by 1, 2, 3, 4
),
totals as (
  select d.dim, g.val,
         sum(b.n)::bigint as n, sum(b.n_labeled)::bigint as n_labeled, sum(b.n_final)::bigint as n_final,
         sum(b.n_positive)::bigint as n_positive, sum(b.tp)::bigint as tp, sum(b.fp)::bigint as fp, sum(b.value_caught) as value_caught, sum(b.value_missed) as value_missed,
         sum(b.score_sum) as score_sum, sum(b.brier_sum) as brier_sum, sum(b.log_loss_sum) as log_loss_sum,
         (bit_xor(b.fingerprint) filter (where d.dim = ''))::text as fingerprint
  from ${expandedBy('combos')}
  group by 1, 2
),
-- One integer id per group with labeled rows (materialized: every reference must see the
-- same numbering), so the one big sort below compares integers
-- and floats, not slice names.
ranks as materialized (
  select row_number() over () as gid, dim, val, total, total_pos, ${QUANTILE_RANKS}
  from (select dim, val, n_labeled as total, n_positive as total_pos from totals where n_labeled > 0) t
),
per_score as (
  select q.gid, b.score, sum(b.n)::int as n_labeled, coalesce(sum(b.n) filter (where b.y = 1), 0)::int as pos
  from ${EXPANDED_BASE}
  join ranks q on q.dim = d.dim and coalesce(q.val, '') = coalesce(g.val, '') and (q.val is null) = (g.val is null)
  where b.y is not null
  group by 1, 2
),
cumulative as (
  select gid, score, n_labeled, pos,
         sum(n_labeled) over w - n_labeled as below,
         sum(pos) over w as pos_le,
         lag(score) over w as prev_score
  from per_score
  window w as (partition by gid order by score rows unbounded preceding)
),
binned as (
  select r.gid, r.score, r.n_labeled, r.pos,
         width_bucket(r.score, ${UNIFORM_EDGES}) - (r.score = any(${UNIFORM_EDGES}))::int as ubin,
         width_bucket(r.score, ${THRESHOLD_EDGES}) as tbucket,
         10 * r.below / r.total + 1 as decile,
         -- searchsorted(inner edges, score): inner edges k = 1..9 whose rank hi lies below this
         -- row lie below its score; an edge at a rank this row holds is compared exactly.
         width_bucket(r.below - 1, r.hi[2:10])
           + case when ${HOLDS_ANY('r.hi[2:10]')}
                  then (select count(*)::int from generate_series(1, 9) as k where ${HOLDS_HI('k')} and r.score > ${EDGE_AT('k')})
                  else 0 end as qbin,
         case when ${HOLDS_ANY('r.hi')}
              then (select array_agg(case when ${HOLDS_HI('k')} then ${EDGE_AT('k')} end order by k) from generate_series(0, 10) as k)
              end as edges,
         (r.n_labeled - r.pos)::int8 * (2 * (r.total_pos - r.pos_le) + r.pos) as auc_term,
         case when r.pos > 0 then r.pos * (r.total_pos - r.pos_le + r.pos)::float8 / (r.total - r.below) end as ap_term,
         abs(r.pos_le::float8 / nullif(r.total_pos, 0) - (r.below + r.n_labeled - r.pos_le)::float8 / nullif(r.total - r.total_pos, 0)) as ks_term
  from (select c.*, q.total, q.total_pos, q.lo, q.hi, q.gamma from cumulative c join ranks q using (gid)) r
),
-- Every binning is a monotone step function of the score, so a group has at most ~50
-- distinct (ubin, qbin, decile, tbucket) combinations: one hash aggregate, no sort, and the
-- per-binning sums are added up in TypeScript from these few rows.
fine as (
  select gid, ubin, qbin, decile, tbucket,
         sum(n_labeled) as n_labeled, sum(pos) as n_positive, sum(score * n_labeled) as score_sum,
         min(score) as min_score, max(score) as max_score,
         sum(auc_term) as auc_twice, sum(ap_term) as ap_sum, max(ks_term) as ks,
         array_agg(edges) filter (where edges is not null) as quantile_edges
  from binned
  group by gid, ubin, qbin, decile, tbucket
)
select 'group' as kind, dim, val, null::int as ubin, null::int as qbin, null::int as decile, null::int as tbucket,
       n, n_labeled, n_final, n_positive, tp, fp, value_caught, value_missed,
       score_sum, brier_sum, log_loss_sum, fingerprint,
       null::float8 as min_score, null::float8 as max_score, null::numeric as auc_twice, null::float8 as ap_sum,
       null::float8 as ks, null::float8[] as quantile_edges
from totals
union all
select 'bins', q.dim, q.val, f.ubin, f.qbin, f.decile, f.tbucket,
       null, f.n_labeled, null, f.n_positive, null, null, null, null,
       f.score_sum, null, null, null,
       f.min_score, f.max_score, f.auc_twice, f.ap_sum, f.ks, f.quantile_edges
from fine f join ranks q using (gid)`;

/**
 * Regression in the same shape: one pass down to one row per slice-value combination with
 * mergeable sums (count, mean and sum of squared deviations of the target, so the total
 * sum of squares merges exactly rather than by the unstable Σt² − (Σt)²/n), then summed
 * per group.
 */
export const REGRESSION_METRICS = `
with base as materialized (
  select case when (select 'region' = any(:dims::text[])) then l.region end as region,
         case when (select 'environment' = any(:dims::text[])) then l.environment end as environment,
         case when (select 'model_version' = any(:dims::text[])) then l.model_version end as model_version,
         case when (select bool_or(dim like 'segment.%') from unnest(:dims::text[]) as dims(dim)) then l.segment end as segment,
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
  group by 1, 2, 3, 4
),
expanded as (
  select d.dim, g.val, b.*,
         sum(b.n_labeled * b.mean_target) over (partition by d.dim, g.val) / nullif(sum(b.n_labeled) over (partition by d.dim, g.val), 0) as group_mean_target
  from ${EXPANDED_BASE}
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
