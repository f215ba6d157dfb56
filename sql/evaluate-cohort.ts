/**
 * The metric SQL of one cohort evaluation (DESIGN "Metrics"): sufficient statistics per
 * (dimension, value) group over `hs_labeled` (see ./join-outcomes), the overall group
 * being dimension ''. One pass computes overall and every slice.
 *
 * Values are always bound (knex named bindings); the only text spliced in is built
 * from constants in this file.
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

/** The overall group ('' / '') plus one group per slice dimension value. */
const EXPANDED = `
  select ''::text as dim, ''::text as val, l.* from hs_labeled l
  union all
  select d.dim,
         case d.dim when 'region' then l.region
                    when 'environment' then l.environment
                    when 'model_version' then l.model_version
                    else l.segment ->> substr(d.dim, 9) end as val,
         l.*
  from hs_labeled l cross join unnest(:dims::text[]) as d(dim)`;

// sklearn's calibration_curve edges are np.linspace(0, 1, 11), i.e. k * 0.1 in float64;
// a score equal to an edge falls in the lower bin (right-closed, first bin includes 0).
const UNIFORM_EDGES = `array[${Array.from({ length: 9 }, (_, k) => `0.1::float8 * ${k + 1}`).join(', ')}]`;
const UNIFORM_BIN = `(width_bucket(score, ${UNIFORM_EDGES}) - (score = any(${UNIFORM_EDGES}))::int)`;
const CLIPPED = 'least(greatest(score, 1e-15::float8), 1 - 1e-15::float8)';

export const BINARY_METRICS = `
with expanded as materialized (${EXPANDED}),
counts as (
  select dim, val,
         count(*) as n,
         count(y) as n_labeled,
         count(*) filter (where is_final) as n_final,
         coalesce(sum(y), 0) as n_positive,
         avg(score) filter (where y is not null) as mean_score,
         avg(y::float8) as base_rate,
         avg((score - y) ^ 2) as brier,
         -avg(y * ln(${CLIPPED}) + (1 - y) * ln(1 - ${CLIPPED})) as log_loss,
         count(*) filter (where y = 1 and score >= threshold) as tp,
         count(*) filter (where y = 0 and score >= threshold) as fp,
         count(*) filter (where y = 1 and score < threshold) as fn,
         sum(hashtextextended(prediction_id::text || ':' || coalesce(y::text, '-') || ':' || is_final::text, 0)) as fingerprint
  from expanded group by dim, val
),
per_score as (
  select dim, val, score, sum(y) as pos, count(*) - sum(y) as neg
  from expanded where y is not null group by dim, val, score
),
cumulative as (
  select dim, val, pos, neg,
         sum(pos) over w as tp_cum, sum(neg) over w as fp_cum,
         sum(pos) over g as p_total, sum(neg) over g as n_total
  from per_score
  window w as (partition by dim, val order by score desc rows unbounded preceding),
         g as (partition by dim, val)
),
curve as (
  select dim, val,
         sum(neg * ((tp_cum - pos) + pos * 0.5)) as auc_numerator,
         sum(case when pos > 0 then pos * tp_cum::float8 / (tp_cum + fp_cum) else 0 end) as ap_numerator,
         max(abs((p_total - tp_cum + pos)::float8 / nullif(p_total, 0)
               - (n_total - fp_cum + neg)::float8 / nullif(n_total, 0))) as ks
  from cumulative group by dim, val
),
uniform_bins as (
  select dim, val, ${UNIFORM_BIN} as bin, count(*) as count, avg(score) as mean_predicted, avg(y::float8) as fraction_positive
  from expanded where y is not null group by dim, val, bin
),
calibration as (
  select dim, val,
         sum(count * abs(mean_predicted - fraction_positive)) as ece_numerator,
         jsonb_agg(jsonb_build_object(
           'lower', bin * 0.1::float8, 'upper', (bin + 1) * 0.1::float8, 'count', count,
           'mean_predicted', mean_predicted, 'fraction_positive', fraction_positive) order by bin) as bins
  from uniform_bins group by dim, val
)
select c.dim, c.val, c.n, c.n_labeled, c.n_final, c.n_positive, c.mean_score, c.base_rate,
       c.brier, c.log_loss, c.tp, c.fp, c.fn, c.fingerprint::text as fingerprint,
       cv.auc_numerator, cv.ap_numerator, cv.ks,
       cal.ece_numerator, cal.bins as calibration
from counts c
left join curve cv using (dim, val)
left join calibration cal using (dim, val)
order by c.dim, c.val nulls last`;

export const REGRESSION_METRICS = `
with expanded as materialized (${EXPANDED})
select dim, val,
       count(*) as n,
       count(target) as n_labeled,
       count(*) filter (where is_final) as n_final,
       avg(score) filter (where target is not null) as mean_score,
       avg(target) as mean_target,
       avg(abs(score - target)) as mae,
       avg((score - target) ^ 2) as mse,
       avg(score - target) as bias,
       sum((score - target) ^ 2) as ss_res,
       var_pop(target) * count(target) as ss_tot,
       sum(hashtextextended(prediction_id::text || ':' || coalesce(target::text, '-') || ':' || is_final::text, 0))::text as fingerprint
from expanded group by dim, val
order by dim, val nulls last`;

