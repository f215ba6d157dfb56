/**
 * The metric SQL of one cohort evaluation (DESIGN "Metrics", docs/metrics.md): sufficient
 * statistics per (dimension, value) group over `hs_labeled` (see ./join-outcomes), the
 * overall group being dimension '' with value ''. SQL only counts and sums; the metrics are
 * finished in TypeScript (activities/stats), where they are tested against scikit-learn.
 *
 * Binary, in one pass over the rows: each row is expanded once per group it belongs to and
 * aggregated per (group, distinct score); one window pass over those score rows (already
 * in order, so no second sort) gives the ranks every curve needs; one GROUPING SETS
 * aggregate then yields the group totals and the per-bin sums of every binning at once.
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

/** Each labeled row once per group: the overall group ('' / '') and one per slice dimension. */
const GROUPED_ROWS = `
  hs_labeled l
  cross join unnest(array['']::text[] || :dims::text[]) as d(dim)
  cross join lateral (select case d.dim when '' then ''
                                       when 'region' then l.region
                                       when 'environment' then l.environment
                                       when 'model_version' then l.model_version
                                       else l.segment ->> substr(d.dim, 9) end as val) g`;

const FINGERPRINT = (label: string) =>
  `sum(hashtextextended(l.prediction_id::text || ':' || coalesce(${label}::text, '-') || ':' || l.is_final::text, 0)) filter (where d.dim = '')`;

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
 * The k-th of the 11 quantile edges exactly as numpy.percentile(p, linspace(0, 1, 11) * 100)
 * computes it (method "linear"): q = (k * 0.1) * 100 / 100, index v = (n - 1) * q, and a lerp
 * between the values at ranks floor(v) and floor(v) + 1 in numpy's own two-sided form.
 * Evaluated on the score row that holds rank `hi`; `a` is then this score or the previous one.
 */
function quantileEdgeParts(k: number): { lo: string; hi: string; edge: string; holdsHi: string } {
  const q = k === 10 ? '1::float8' : `((0.1::float8 * ${k}) * 100 / 100)`;
  const v = `((total - 1)::float8 * ${q})`;
  const lo = `floor(${v})::bigint`;
  const hi = `least(${lo} + 1, total - 1)`;
  const gamma = `(${v} - floor(${v}))`;
  const a = `(case when below <= ${lo} then score else prev_score end)`;
  const edge = `(case when ${gamma} >= 0.5 then score - (score - ${a}) * (1 - ${gamma}) else ${a} + (score - ${a}) * ${gamma} end)`;
  const holdsHi = `(below <= ${hi} and ${hi} < below + n_labeled)`;
  return { lo, hi, edge, holdsHi };
}

const QUANTILE_EDGE_COLUMNS = Array.from({ length: 11 }, (_, k) => {
  const { edge, holdsHi } = quantileEdgeParts(k);
  return `case when ${holdsHi} then ${edge} end as qe_${k}`;
}).join(',\n         ');

/** sklearn's searchsorted(inner_edges, score): how many of the 9 inner edges lie below the score. */
const QUANTILE_BIN = Array.from({ length: 9 }, (_, i) => {
  const { hi, edge, holdsHi } = quantileEdgeParts(i + 1);
  return `(case when below > ${hi} then 1 when ${holdsHi} and score > ${edge} then 1 else 0 end)`;
}).join('\n           + ');

export const BINARY_METRICS = `
with per_score as (
  select d.dim, g.val,
         case when l.y is not null then l.score end as score,
         count(*) as n,
         count(l.y) as n_labeled,
         count(*) filter (where l.is_final) as n_final,
         coalesce(sum(l.y), 0) as pos,
         count(*) filter (where l.y = 1 and l.score >= l.threshold) as tp,
         count(*) filter (where l.y = 0 and l.score >= l.threshold) as fp,
         sum(l.outcome_value) filter (where l.y = 1 and l.score >= l.threshold) as value_caught,
         sum(l.outcome_value) filter (where l.y = 1 and l.score < l.threshold) as value_missed,
         ${FINGERPRINT('l.y')} as fingerprint
  from ${GROUPED_ROWS}
  group by d.dim, g.val, 3
),
ranked as (
  select s.*,
         (sum(n_labeled) over w)::bigint - n_labeled as below,
         (sum(pos) over w)::bigint as pos_le,
         (sum(n_labeled - pos) over w)::bigint as neg_le,
         (sum(n_labeled) over g)::bigint as total,
         (sum(pos) over g)::bigint as total_pos,
         lag(score) over w as prev_score
  from per_score s
  window w as (partition by dim, val order by score rows unbounded preceding),
         g as (partition by dim, val)
),
binned as (
  select r.*,
         case when n_labeled > 0 then width_bucket(score, ${UNIFORM_EDGES}) - (score = any(${UNIFORM_EDGES}))::int end as ubin,
         case when n_labeled > 0 then ${QUANTILE_BIN} end as qbin,
         case when n_labeled > 0 then 10 * below / total + 1 end as decile,
         case when n_labeled > 0 then width_bucket(score, ${THRESHOLD_EDGES}) end as tbucket,
         ${QUANTILE_EDGE_COLUMNS}
  from ranked r
)
select dim, val, grouping(ubin, qbin, decile, tbucket) as grouping_id, ubin, qbin, decile, tbucket,
       sum(n)::bigint as n, sum(n_labeled)::bigint as n_labeled, sum(n_final)::bigint as n_final,
       sum(pos)::bigint as n_positive, sum(tp)::bigint as tp, sum(fp)::bigint as fp,
       coalesce(sum(value_caught), 0) as value_caught, coalesce(sum(value_missed), 0) as value_missed,
       sum(score * n_labeled) as score_sum,
       min(score) as min_score, max(score) as max_score,
       sum(pos * (1 - score) ^ 2 + (n_labeled - pos) * score ^ 2) as brier_sum,
       -sum(pos * ln(${CLIPPED}) + (n_labeled - pos) * ln(1 - ${CLIPPED})) as log_loss_sum,
       sum((n_labeled - pos) * (2 * (total_pos - pos_le) + pos)) as auc_twice,
       sum(pos * (total_pos - pos_le + pos)::float8 / (total - below)) filter (where pos > 0) as ap_sum,
       max(abs(pos_le::float8 / nullif(total_pos, 0) - neg_le::float8 / nullif(total - total_pos, 0))) as ks,
       ${Array.from({ length: 11 }, (_, k) => `max(qe_${k}) as qe_${k}`).join(', ')},
       sum(fingerprint)::text as fingerprint
from binned
group by grouping sets ((dim, val), (dim, val, ubin), (dim, val, qbin), (dim, val, decile), (dim, val, tbucket))
order by dim, val nulls last`;

export const REGRESSION_METRICS = `
select d.dim, g.val,
       count(*) as n,
       count(l.target) as n_labeled,
       count(*) filter (where l.is_final) as n_final,
       avg(l.score) filter (where l.target is not null) as mean_score,
       avg(l.target) as mean_target,
       min(l.target) as min_target,
       max(l.target) as max_target,
       avg(abs(l.score - l.target)) as mae,
       avg((l.score - l.target) ^ 2) as mse,
       avg(l.score - l.target) as bias,
       sum((l.score - l.target) ^ 2) as ss_res,
       var_pop(l.target) * count(l.target) as ss_tot,
       (${FINGERPRINT('l.target')})::text as fingerprint
from ${GROUPED_ROWS}
group by d.dim, g.val
order by d.dim, g.val nulls last`;
