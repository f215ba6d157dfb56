/**
 * The SQL behind one cohort evaluation (DESIGN "Label semantics" and "Metrics").
 *
 * Runs inside one REPEATABLE READ transaction as three steps over temp tables:
 * 1. `hs_matches`: every (outcome, prediction) pair a join path produces, classified as
 *    joined, rejected_before_prediction or outside_window;
 * 2. `hs_labeled`: one row per cohort prediction with its label as of `:as_of`;
 * 3. metrics per (dimension, value) group, the overall group being dimension ''.
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

const COHORT = `
  select p.prediction_id, p.ts_pred, p.score,
         coalesce(p.threshold, :default_threshold::float8) as threshold,
         p.request_id, p.item_id, p.entity_ids, p.region, p.environment, p.model_version, p.segment
  from predictions p
  where p.model_name = :model and p.model_version = :version
    and (:environment::text is null or p.environment = :environment::text)
    and p.ts_pred >= :start_ts::timestamptz and p.ts_pred < :end_ts::timestamptz`;

/** Outcomes the definition names that Hindsight knew of at `:as_of`. */
const KNOWN = `
  select o.outcome_id, o.prediction_id, o.request_id, o.item_id, o.entity_ids,
         o.outcome_type, o.value, o.ts_event
  from outcomes o
  where o.outcome_type = any(:outcome_types::text[])
    and o.ts_received <= :as_of::timestamptz`;

export const CREATE_MATCHES = `
create temp table hs_matches on commit drop as
with cohort as (${COHORT}),
known as (${KNOWN}),
by_id as (
  select k.outcome_id, c.prediction_id, 'by_prediction_id'::text as path,
         k.outcome_type, k.value, k.ts_event, c.ts_pred
  from known k join cohort c on c.prediction_id = k.prediction_id
),
by_request_item as (
  select k.outcome_id, c.prediction_id, 'by_request_item'::text as path,
         k.outcome_type, k.value, k.ts_event, c.ts_pred
  from known k join cohort c on c.request_id = k.request_id and c.item_id = k.item_id
  where k.prediction_id is null
),
-- Entity path: the latest prediction of this model name and version for the entity with
-- ts_pred <= ts_event, wherever it lies; the outcome counts here only if that one is ours.
entity_outcomes as (
  select k.* from known k
  where :entity_key::text is not null and k.prediction_id is null
    and (k.request_id is null or k.item_id is null)
    and k.entity_ids -> :entity_key::text is not null
    and k.ts_event >= :start_ts::timestamptz
    and k.ts_event < :end_ts::timestamptz + :label_window::interval
),
by_entity as (
  select k.outcome_id, latest.prediction_id, 'by_entity_window'::text as path,
         k.outcome_type, k.value, k.ts_event, latest.ts_pred
  from entity_outcomes k
  cross join lateral (
    select p.prediction_id, p.ts_pred from predictions p
    where p.entity_ids @> jsonb_build_object(:entity_key::text, k.entity_ids -> :entity_key::text)
      and p.model_name = :model and p.model_version = :version
      and p.ts_pred <= k.ts_event
    order by p.ts_pred desc, p.prediction_id desc
    limit 1
  ) latest
  where latest.prediction_id in (select prediction_id from cohort)
),
-- An entity outcome that happened before any prediction for the entity, while this cohort
-- predicted for it later: the join would leak the future, so it is counted and refused.
entity_leaks as (
  select k.outcome_id, c.prediction_id, 'by_entity_window'::text as path,
         k.outcome_type, k.value, k.ts_event, c.ts_pred
  from entity_outcomes k
  cross join lateral (
    select c.prediction_id, c.ts_pred from cohort c
    where c.entity_ids @> jsonb_build_object(:entity_key::text, k.entity_ids -> :entity_key::text)
    order by c.ts_pred, c.prediction_id
    limit 1
  ) c
  where c.ts_pred > k.ts_event
    and not exists (
      select 1 from predictions p
      where p.entity_ids @> jsonb_build_object(:entity_key::text, k.entity_ids -> :entity_key::text)
        and p.model_name = :model and p.model_version = :version and p.ts_pred <= k.ts_event)
),
paired as (
  select * from by_id
  union all select * from by_request_item
  union all select * from by_entity
  union all select * from entity_leaks
)
select paired.*,
       case when ts_event < ts_pred then 'rejected_before_prediction'
            when ts_event >= ts_pred + :label_window::interval then 'outside_window'
            else 'joined' end as status
from paired`;

/**
 * One row per cohort prediction. The latest joined outcome by ts_event decides the label
 * (a tie goes to the positive, then to the larger outcome_id so reruns agree).
 */
export const CREATE_LABELED = `
create temp table hs_labeled on commit drop as
with cohort as (${COHORT}),
deciding as (
  select distinct on (m.prediction_id) m.prediction_id, m.outcome_type, m.value
  from hs_matches m
  where m.status = 'joined'
  order by m.prediction_id, m.ts_event desc, (m.outcome_type = any(:positive_types::text[])) desc, m.outcome_id desc
),
labeled as (
  select c.prediction_id, c.score, c.threshold, c.region, c.environment, c.model_version, c.segment,
         c.ts_pred + :label_window::interval <= :as_of::timestamptz as window_elapsed,
         case when :regression::boolean then null
              when d.prediction_id is null then case when :absent_negative::boolean then 0 end
              when d.outcome_type = any(:positive_types::text[]) then 1
              else 0 end as y,
         case when :regression::boolean then d.value end as target
  from cohort c left join deciding d on d.prediction_id = c.prediction_id
)
select l.*,
       case when :regression::boolean then l.target is not null and l.window_elapsed
            else l.y is not null and (l.window_elapsed or l.y = 1) end as is_final
from labeled l`;

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

/**
 * Join accounting for the evaluation document. `unmatched` counts outcomes the definition
 * names, known at as-of and within this cohort's reach, whose keys name no prediction at all.
 */
export const JOIN_COUNTS = `
with known as (${KNOWN}
    and o.ts_event >= :start_ts::timestamptz
    and o.ts_event < :end_ts::timestamptz + :label_window::interval),
unmatched as (
  select count(*) as n from known k
  where case
    when k.prediction_id is not null then
      not exists (select 1 from predictions p where p.prediction_id = k.prediction_id)
    when k.request_id is not null and k.item_id is not null then
      not exists (select 1 from predictions p where p.request_id = k.request_id and p.item_id = k.item_id
                  and p.model_name = :model and p.model_version = :version)
    else :entity_key::text is null or k.entity_ids -> :entity_key::text is null or not exists (
      select 1 from predictions p
      where p.entity_ids @> jsonb_build_object(:entity_key::text, k.entity_ids -> :entity_key::text)
        and p.model_name = :model and p.model_version = :version)
  end
)
select
  count(distinct outcome_id) filter (where status = 'joined' and path = 'by_prediction_id') as by_prediction_id,
  count(distinct outcome_id) filter (where status = 'joined' and path = 'by_request_item') as by_request_item,
  count(distinct outcome_id) filter (where status = 'joined' and path = 'by_entity_window') as by_entity_window,
  count(distinct outcome_id) filter (where status = 'rejected_before_prediction') as rejected_before_prediction,
  count(distinct outcome_id) filter (where status = 'outside_window') as outside_window,
  (select n from unmatched) as unmatched
from hs_matches`;
