/**
 * Every outcome that could concern one prediction, with the verdict of the evaluation's own
 * join (`hs_matches`, built for a cohort around that prediction) or the reason it was not
 * considered. Candidates are found the way the join paths look (docs/label-semantics.md): the prediction's id,
 * its request_id + item_id, and its entity under the definition's entity_key.
 */
import { DECIDING } from './join-outcomes';

export const TRACE_OUTCOMES = `
with deciding as (${DECIDING}),
candidates as (
  select o.outcome_id, o.outcome_type, o.value, o.ts_event, o.ts_received, o.source,
         case when o.prediction_id is not null then 'by_prediction_id'
              when o.request_id is not null and o.item_id is not null then 'by_request_item'
              else 'by_entity_window' end as join_path
  from outcomes o
  where o.prediction_id = :prediction_id::uuid
     or (o.prediction_id is null and o.request_id = :request_id::text and o.item_id = :item_id::text)
     or (:entity::text is not null and o.prediction_id is null and (o.request_id is null or o.item_id is null)
         and o.entity_ids @> jsonb_build_object(coalesce(:entity_key::text, ''), :entity::text))
)
select c.*, m.status,
       d.outcome_id is not null as decides_label,
       c.outcome_type = any(:outcome_types::text[]) as named_type,
       c.ts_received <= :as_of::timestamptz as known,
       owner.prediction_id as attributed_to, owner.ts_pred as attributed_ts_pred
from candidates c
left join hs_matches m on m.outcome_id = c.outcome_id and m.prediction_id = :prediction_id::uuid
left join deciding d on d.outcome_id = c.outcome_id and d.prediction_id = :prediction_id::uuid
left join lateral (
  -- Whose outcome an entity event is: the latest prediction of the model version at or
  -- before it, else (leakage) the first one after it.
  select q.prediction_id, q.ts_pred from predictions q
  where c.join_path = 'by_entity_window'
    and q.entity_ids @> jsonb_build_object(coalesce(:entity_key::text, ''), :entity::text)
    and q.model_name = :model and q.model_version = :version
  order by q.ts_pred <= c.ts_event desc,
           case when q.ts_pred <= c.ts_event then q.ts_pred end desc,
           case when q.ts_pred <= c.ts_event then q.prediction_id end desc,
           q.ts_pred, q.prediction_id
  limit 1
) owner on true
order by c.ts_event, c.outcome_id`;

export const TRACE_LABEL = `
with deciding as (${DECIDING})
select l.y, l.target, l.is_final, l.window_elapsed, l.outcome_value, d.outcome_id, d.path as join_path
from hs_labeled l left join deciding d on d.prediction_id = l.prediction_id
where l.prediction_id = :prediction_id::uuid`;
