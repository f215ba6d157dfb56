-- The unmatched-outcome ledger (docs/join-semantics.md): an outcome whose join key names
-- no prediction is kept queryable instead of silently dropped. The key is the one the
-- outcome's join path uses: its prediction_id if it carries one; else request_id + item_id
-- if it carries both; else entity_ids ->> entity_key (the label definition's key; with no
-- key, or an outcome that lacks it, there is nothing to join on).
--
--   select * from unmatched_outcomes('transaction_id') where outcome_type = 'chargeback';
--
-- Plain SQL and STABLE so the planner inlines it and pushes the caller's filters down.
create function unmatched_outcomes(entity_key text default null)
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
      not exists (select 1 from predictions p where p.prediction_id = o.prediction_id)
    when o.request_id is not null and o.item_id is not null then
      not exists (select 1 from predictions p where p.request_id = o.request_id and p.item_id = o.item_id)
    else $1 is null or o.entity_ids ->> $1 is null or not exists (
      select 1 from predictions p where p.entity_ids @> jsonb_build_object($1, o.entity_ids ->> $1))
  end
$$;

comment on function unmatched_outcomes(text) is
  'Outcomes whose join key (prediction_id, else request_id + item_id, else entity_ids ->> entity_key) names no prediction: the unmatched-outcome ledger.';
