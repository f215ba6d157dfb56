-- The unmatched-outcome ledger (migration 003) asked every month of `predictions` whether a
-- prediction with the outcome's key exists: one index probe per month partition, so each
-- lookup, and every evaluation's `join.unmatched`, grew with the history kept. Same rows and
-- reasons now, found at a cost that does not grow with the months:
-- - a prediction_id is looked up in prediction_keys (migration 001), which holds every stored
--   prediction's id in one unpartitioned table, kept in step by ingest, the claim trigger and
--   retention;
-- - a request_id + item_id or an entity is looked for first among the predictions from 92
--   days before the event to 31 days after it (the months run-time pruning leaves: at most
--   five), where the prediction an outcome names almost always is; only a key not found there
--   is looked for in every month, so "names no prediction at all" keeps its meaning.
create or replace function unmatched_outcomes(entity_key text default null)
returns table (
  outcome_id    text,
  prediction_id uuid,
  request_id    text,
  item_id       text,
  entity_ids    jsonb,
  outcome_type  text,
  value         double precision,
  ts_event      timestamptz,
  ts_received   timestamptz,
  source        text,
  join_path     text,
  reason        text
)
language sql stable as $$
  select o.outcome_id, o.prediction_id, o.request_id, o.item_id, o.entity_ids, o.outcome_type,
         o.value, o.ts_event, o.ts_received, o.source,
         case when o.prediction_id is not null then 'by_prediction_id'
              when o.request_id is not null and o.item_id is not null then 'by_request_item'
              else 'by_entity_window' end,
         case when o.prediction_id is not null then 'no prediction has this prediction_id'
              when o.request_id is not null and o.item_id is not null then 'no prediction has this request_id + item_id'
              when $1 is null then 'no entity_key to join on'
              when o.entity_ids ->> $1 is null then 'the outcome carries no ' || $1
              else 'no prediction has this ' || $1 end
  from outcomes o
  where case
    when o.prediction_id is not null then
      not exists (select 1 from prediction_keys k where k.prediction_id = o.prediction_id)
    when o.request_id is not null and o.item_id is not null then
      not exists (select 1 from predictions p where p.request_id = o.request_id and p.item_id = o.item_id
                  and p.ts_pred >= o.ts_event - interval '92 days' and p.ts_pred <= o.ts_event + interval '31 days')
      and not exists (select 1 from predictions p where p.request_id = o.request_id and p.item_id = o.item_id)
    else $1 is null or o.entity_ids ->> $1 is null or (
      not exists (select 1 from predictions p where p.entity_ids @> jsonb_build_object($1, o.entity_ids ->> $1)
                  and p.ts_pred >= o.ts_event - interval '92 days' and p.ts_pred <= o.ts_event + interval '31 days')
      and not exists (select 1 from predictions p where p.entity_ids @> jsonb_build_object($1, o.entity_ids ->> $1)))
  end
$$;
