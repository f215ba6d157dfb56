/**
 * The join of delayed outcomes to a cohort's predictions and the label each prediction
 * gets as of a moment (DESIGN "Label semantics"; the decisions where DESIGN is silent are
 * in docs/join-semantics.md). Runs inside the evaluation's REPEATABLE READ transaction and
 * leaves two temp tables for the metric SQL:
 * - `hs_matches`: every (outcome, prediction) pair a join path produces, classified as
 *   joined, rejected_before_prediction or outside_window;
 * - `hs_labeled`: one row per cohort prediction with its label as of `:as_of`.
 *
 * Set-based (hash joins and one window pass per entity) rather than a lookup per outcome,
 * so a cohort of a million predictions joins in seconds; only entity leakage candidates get
 * an index probe. Values are always bound (knex named bindings: see {@link EvaluationBindings}).
 */
import { namedOutcomeTypes, type LabelDefinition } from '../activities/label-definitions';
import { toUtcIso } from '../activities/utc-timestamp';
import type { EvaluationBindings } from './evaluate-cohort';

export type { EvaluationBindings };

/** A cohort as the join sees it (structurally the evaluation's `CohortSelector`). */
export interface JoinCohort {
  model_name: string;
  model_version: string;
  environment: string | null;
  start: string;
  end: string;
}

/**
 * The bindings of every statement here for one cohort, definition and as-of; the export,
 * trace and latency activities use it so they join exactly as the evaluation does.
 */
export function joinBindingsFor(cohort: JoinCohort, def: LabelDefinition, asOf: string): EvaluationBindings {
  return {
    model: cohort.model_name,
    version: cohort.model_version,
    environment: cohort.environment,
    start_ts: toUtcIso(cohort.start),
    end_ts: toUtcIso(cohort.end),
    as_of: toUtcIso(asOf),
    label_window: def.window,
    outcome_types: namedOutcomeTypes(def),
    positive_types: def.positive_outcome_types,
    entity_key: def.entity_key ?? null,
    absent_negative: def.absent_means === 'negative',
    regression: def.task === 'regression',
    default_threshold: def.decision_threshold,
    dims: def.slices,
  };
}

/** The cohort test for a `predictions p` row: model, version, environment, `[start, end)`. */
export const IN_COHORT = `(p.model_name = :model and p.model_version = :version
    and (:environment::text is null or p.environment = :environment::text)
    and p.ts_pred >= :start_ts::timestamptz and p.ts_pred < :end_ts::timestamptz)`;

/** Outcomes the definition names that Hindsight knew of at `:as_of`. */
export const KNOWN = `
  select o.outcome_id, o.prediction_id, o.request_id, o.item_id, o.entity_ids,
         o.outcome_type, o.value, o.ts_event, o.ts_received
  from outcomes o
  where o.outcome_type = any(:outcome_types::text[])
    and o.ts_received <= :as_of::timestamptz`;

const PAIR_COLUMNS = 'outcome_id, prediction_id, path, outcome_type, value, ts_event, ts_received, ts_pred';

export const CREATE_MATCHES = `
create temp table hs_matches on commit drop as
with by_id as (
  select k.outcome_id, p.prediction_id, 'by_prediction_id'::text as path,
         k.outcome_type, k.value, k.ts_event, k.ts_received, p.ts_pred
  from (${KNOWN}) k join predictions p on p.prediction_id = k.prediction_id
  where ${IN_COHORT}
),
by_request_item as (
  select k.outcome_id, p.prediction_id, 'by_request_item'::text as path,
         k.outcome_type, k.value, k.ts_event, k.ts_received, p.ts_pred
  from (${KNOWN}) k join predictions p on p.request_id = k.request_id and p.item_id = k.item_id
  where k.prediction_id is null and ${IN_COHORT}
),
-- Entity path: outcomes that carry neither a prediction_id nor a full request_id + item_id.
-- None before start - window can pair with this cohort: an event after a prediction of
-- ours is after the start, and a leak counts only within one window before the prediction
-- (see below), so older outcome history is never read.
entity_known as materialized (
  select k.outcome_id, k.outcome_type, k.value, k.ts_event, k.ts_received,
         k.entity_ids ->> :entity_key::text as entity
  from (${KNOWN}) k
  where :entity_key::text is not null and k.prediction_id is null
    and (k.request_id is null or k.item_id is null)
    and k.entity_ids ->> :entity_key::text is not null
    and k.ts_event >= :start_ts::timestamptz - :label_window::interval
),
-- Every prediction of this model name and version (any environment) for those entities from
-- the cohort start on: a later one, in or out of the cohort, takes the outcome away from ours.
-- Nothing after as-of can matter, since every known event happened by then.
entity_predictions as (
  select p.prediction_id, p.ts_pred, p.entity_ids ->> :entity_key::text as entity,
         coalesce((:environment::text is null or p.environment = :environment::text) and p.ts_pred < :end_ts::timestamptz, false) as ours
  from predictions p
  where p.model_name = :model and p.model_version = :version
    and p.ts_pred >= :start_ts::timestamptz and p.ts_pred <= :as_of::timestamptz
    and p.entity_ids ->> :entity_key::text in (select entity from entity_known)
),
-- One ordered pass per entity, no self-join: predictions sort before events at the same
-- instant (ts_pred <= ts_event) and by prediction_id among themselves. In that order a
-- prediction's sort key (ts_pred, prediction_id, ours flag, as fixed-width text) only grows,
-- so the running max of the keys is the latest prediction at or before an event (ties to the
-- larger prediction_id) and the minimum over the entity is its first prediction. An event
-- with no prediction at or before it since the cohort start has run 0.
timeline as (
  select entity, ts_pred as t, 0 as kind, prediction_id, ts_pred,
         to_char(ts_pred at time zone 'UTC', 'YYYYMMDDHH24MISSUS') || prediction_id::text || ours::int::text as prediction_key,
         null::text as outcome_id, null::text as outcome_type, null::float8 as value,
         null::timestamptz as ts_event, null::timestamptz as ts_received
  from entity_predictions
  union all
  select entity, ts_event, 1, null::uuid, null::timestamptz, null::text,
         outcome_id, outcome_type, value, ts_event, ts_received
  from entity_known
),
placed as (
  select entity, kind, outcome_id, outcome_type, value, ts_event, ts_received,
         count(prediction_id) over upto as run,
         max(prediction_key collate "C") over upto as latest_key,
         max(ts_pred) over upto as latest_ts_pred,
         min(prediction_key collate "C") over entity_all as first_key,
         min(ts_pred) over entity_all as first_ts_pred
  from timeline
  window upto as (partition by entity order by t, kind, prediction_id rows unbounded preceding),
         entity_all as (partition by entity)
),
-- Run 0: the event came before every prediction since the start. A naive entity join would
-- give it to the entity's first prediction; if that one is ours, no earlier prediction of
-- the model version exists at all and the event lies within one window before it, the pair
-- is time leakage. (Older entity history is just history, not a leak.)
attributed as (
  select placed.*,
         case when run > 0 then latest_key else first_key end as key,
         case when run > 0 then latest_ts_pred else first_ts_pred end as ts_pred
  from placed
  where kind = 1
),
by_entity as (
  select a.outcome_id, substr(a.key, 21, 36)::uuid as prediction_id,
         'by_entity_window'::text as path, a.outcome_type, a.value, a.ts_event, a.ts_received,
         a.ts_pred
  from attributed a
  where right(a.key, 1) = '1'
    and (a.run > 0 or a.ts_event >= a.ts_pred - :label_window::interval and not exists (
      select 1 from predictions q
      where q.entity_ids @> jsonb_build_object(:entity_key::text, a.entity)
        and q.model_name = :model and q.model_version = :version
        and q.ts_pred < :start_ts::timestamptz))
),
paired as (
  select ${PAIR_COLUMNS} from by_id
  union all select ${PAIR_COLUMNS} from by_request_item
  union all select ${PAIR_COLUMNS} from by_entity
)
select paired.*,
       case when ts_event < ts_pred then 'rejected_before_prediction'
            when ts_event >= ts_pred + :label_window::interval then 'outside_window'
            else 'joined' end as status
from paired`;

/**
 * The outcome that decides each prediction's label (DESIGN "Label semantics" 4):
 * - `absent_means: negative`: any known positive makes the prediction positive for good, so
 *   the latest positive decides; without one, the latest explicit negative;
 * - `absent_means: unknown`: the latest by ts_event, a tie going to the positive;
 * - regression: the latest outcome that carries a value.
 * The last tie-break, the larger outcome_id, only keeps reruns identical.
 */
export const DECIDING = `
  select distinct on (m.prediction_id)
         m.prediction_id, m.outcome_id, m.path, m.outcome_type, m.value, m.ts_event, m.ts_received,
         m.outcome_type = any(:positive_types::text[]) as positive
  from hs_matches m
  where m.status = 'joined' and (not :regression::boolean or m.value is not null)
  order by m.prediction_id,
           (:absent_negative::boolean and m.outcome_type = any(:positive_types::text[])) desc,
           m.ts_event desc,
           (m.outcome_type = any(:positive_types::text[])) desc,
           m.outcome_id desc`;

const WINDOW_ELAPSED = `(p.ts_pred + :label_window::interval <= :as_of::timestamptz)`;

/**
 * The label columns for a cohort prediction `p` left-joined to its deciding outcome `d`;
 * shared by {@link CREATE_LABELED} and the export so both label identically.
 */
export const LABEL_COLUMNS = `
  ${WINDOW_ELAPSED} as window_elapsed,
  case when :regression::boolean then null
       when d.prediction_id is null then case when :absent_negative::boolean then 0 end
       when d.positive then 1
       else 0 end as y,
  case when :regression::boolean then d.value end as target,
  case when :regression::boolean then d.prediction_id is not null and ${WINDOW_ELAPSED}
       when :absent_negative::boolean then ${WINDOW_ELAPSED} or coalesce(d.positive, false)
       else d.prediction_id is not null and ${WINDOW_ELAPSED} end as is_final,
  d.value as outcome_value`;

/** One row per cohort prediction with its label as of `:as_of` and the deciding outcome's value. */
export const CREATE_LABELED = `
create temp table hs_labeled on commit drop as
with deciding as (${DECIDING})
select p.prediction_id, p.score,
       coalesce(p.threshold, :default_threshold::float8) as threshold,
       p.region, p.environment, p.model_version, p.segment,
       ${LABEL_COLUMNS}
from predictions p left join deciding d on d.prediction_id = p.prediction_id
where ${IN_COHORT}`;

/**
 * Join accounting for the evaluation document; each outcome counts once per status and
 * path. `unmatched` counts outcomes the definition names, known at as-of, whose event falls
 * in this cohort's reach `[start, end + window)` and whose join key names no prediction at
 * all: the ledger `unmatched_outcomes` (migration 003). An outcome in `hs_matches` named a
 * prediction, so only the others are looked up in the ledger (one indexed probe each).
 */
export const JOIN_COUNTS = `
with in_reach as (
  select o.outcome_id from outcomes o
  where o.outcome_type = any(:outcome_types::text[])
    and o.ts_received <= :as_of::timestamptz
    and o.ts_event >= :start_ts::timestamptz
    and o.ts_event < :end_ts::timestamptz + :label_window::interval
    and not exists (select 1 from hs_matches m where m.outcome_id = o.outcome_id)
)
select
  count(distinct outcome_id) filter (where status = 'joined' and path = 'by_prediction_id') as by_prediction_id,
  count(distinct outcome_id) filter (where status = 'joined' and path = 'by_request_item') as by_request_item,
  count(distinct outcome_id) filter (where status = 'joined' and path = 'by_entity_window') as by_entity_window,
  count(distinct outcome_id) filter (where status = 'rejected_before_prediction') as rejected_before_prediction,
  count(distinct outcome_id) filter (where status = 'outside_window') as outside_window,
  (select count(*) from in_reach r
   where exists (select 1 from unmatched_outcomes(:entity_key::text) u where u.outcome_id = r.outcome_id)) as unmatched
from hs_matches`;
