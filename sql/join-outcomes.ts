/**
 * The join of delayed outcomes to a cohort's predictions and the label each prediction
 * gets as of a moment (DESIGN "Label semantics"). Runs inside the evaluation's
 * REPEATABLE READ transaction and leaves two temp tables for the metric SQL:
 * - `hs_matches`: every (outcome, prediction) pair a join path produces, classified as
 *   joined, rejected_before_prediction or outside_window;
 * - `hs_labeled`: one row per cohort prediction with its label as of `:as_of`.
 *
 * Values are always bound (knex named bindings: see {@link EvaluationBindings}).
 */
import type { EvaluationBindings } from './evaluate-cohort';

export type { EvaluationBindings };

export const COHORT = `
  select p.prediction_id, p.ts_pred, p.score,
         coalesce(p.threshold, :default_threshold::float8) as threshold,
         p.request_id, p.item_id, p.entity_ids, p.region, p.environment, p.model_version, p.segment
  from predictions p
  where p.model_name = :model and p.model_version = :version
    and (:environment::text is null or p.environment = :environment::text)
    and p.ts_pred >= :start_ts::timestamptz and p.ts_pred < :end_ts::timestamptz`;

/** Outcomes the definition names that Hindsight knew of at `:as_of`. */
export const KNOWN = `
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
