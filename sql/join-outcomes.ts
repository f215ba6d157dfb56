/**
 * The join of delayed outcomes to a cohort's predictions and the label each prediction
 * gets as of a moment (the rules, and the decisions where they are silent, are in
 * docs/label-semantics.md). Runs inside the evaluation's REPEATABLE READ transaction and
 * leaves two temp tables for the metric SQL:
 * - `hs_matches`: every (outcome, prediction) pair a join path produces, classified as
 *   joined, rejected_before_prediction or outside_window;
 * - `hs_labeled`: one row per cohort prediction with its label as of `:as_of`.
 *
 * Set-based (hash joins and one sorted pass over the entities' predictions) rather than a
 * lookup per outcome, so a cohort of a million predictions joins in seconds; only entity
 * leakage candidates get an index probe. Values are always bound (knex named bindings: see
 * {@link EvaluationBindings}).
 */
import { itemTask, leakageHorizon, namedOutcomeTypes, positiveDecisions, type LabelDefinition } from '../contracts/label-definition';
import { toUtcIso } from '../contracts/utc-timestamp';
import { sliceValueColumns } from './slice-values';
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
    leakage_horizon: leakageHorizon(def),
    outcome_types: namedOutcomeTypes(def),
    positive_types: def.positive_outcome_types,
    entity_key: def.entity_key ?? null,
    absent_negative: def.absent_means === 'negative',
    regression: itemTask(def) === 'regression',
    default_threshold: def.decision_threshold,
    logged_decisions: def.decision_source === 'logged',
    positive_decisions: positiveDecisions(def),
    dims: def.slices,
  };
}

/** The cohort test for a `predictions p` row: model, version, environment, `[start, end)`. */
export const IN_COHORT = `(p.model_name = :model and p.model_version = :version
    and (:environment::text is null or p.environment = :environment::text)
    and p.ts_pred >= :start_ts::timestamptz and p.ts_pred < :end_ts::timestamptz)`;

/**
 * Outcomes the definition names that Hindsight knew of at `:as_of` and that can pair with a
 * cohort prediction: no pair counts with an event more than the leakage horizon before its
 * prediction (so before start - horizon), and a known event is at or before as-of (the
 * table's check: received ≥ event). The `ts_event` range lets Postgres prune the months
 * of `outcomes` outside it, so the read follows the cohort, not the whole history.
 */
export const KNOWN = `
  select o.outcome_id, o.prediction_id, o.request_id, o.item_id, o.entity_ids,
         o.outcome_type, o.value, o.ts_event, o.ts_received
  from outcomes o
  where o.outcome_type = any(:outcome_types::text[])
    and o.ts_received <= :as_of::timestamptz
    and o.ts_event >= :start_ts::timestamptz - :leakage_horizon::interval
    and o.ts_event <= :as_of::timestamptz`;

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
-- None before start - horizon can pair with this cohort (KNOWN): an event after a prediction
-- of ours is after the start, and a leak counts only within the horizon before it.
entity_known as materialized (
  select k.outcome_id, k.outcome_type, k.value, k.ts_event, k.ts_received,
         k.entity_ids ->> :entity_key::text collate "C" as entity
  from (${KNOWN}) k
  where :entity_key::text is not null and k.prediction_id is null
    and (k.request_id is null or k.item_id is null)
    and k.entity_ids ->> :entity_key::text is not null
),
-- Every prediction of this model name and version (any environment) for those entities from
-- the cohort start on: a later one, in or out of the cohort, takes the outcome away from ours.
-- Nothing after as-of can matter, since every known event happened by then. One row per
-- entity, its predictions in (ts_pred, prediction_id) order as arrays, from one sorted pass.
-- Entities compare as text; "C" only makes that sort cheap (text equality is bytewise anyway).
entity_predictions as (
  select entity, prediction_ids, ts_preds, ours
  from (
    select e.entity, row_number() over w as nth,
           array_agg(p.prediction_id) over w as prediction_ids,
           array_agg(p.ts_pred) over w as ts_preds,
           array_agg(coalesce((:environment::text is null or p.environment = :environment::text)
                              and p.ts_pred < :end_ts::timestamptz, false)) over w as ours
    from predictions p
    join (select distinct entity from entity_known) e on e.entity = p.entity_ids ->> :entity_key::text
    where p.model_name = :model and p.model_version = :version
      and p.ts_pred >= :start_ts::timestamptz and p.ts_pred <= :as_of::timestamptz
    window w as (partition by e.entity order by p.ts_pred, p.prediction_id
                 rows between unbounded preceding and unbounded following)
  ) ranked
  where nth = 1
),
-- An event's run is the number of its entity's predictions at or before it (width_bucket:
-- a binary search of the sorted ts_preds). The last of them is the latest prediction at or
-- before the event, a tie on ts_pred going to the larger prediction_id; run 0 means the event
-- came before every prediction since the start, and the first prediction is the candidate.
placed as (
  select k.*, e.prediction_ids, e.ts_preds, e.ours, width_bucket(k.ts_event, e.ts_preds) as run
  from entity_known k join entity_predictions e on e.entity = k.entity
),
-- Run 0: a naive entity join would give the event to the entity's first prediction; if that
-- one is ours, no earlier prediction of the model version exists at all and the event lies
-- within the leakage horizon before it, the pair is time leakage. (Older entity history is
-- just history, not a leak.)
by_entity as (
  select a.outcome_id, a.prediction_ids[greatest(a.run, 1)] as prediction_id,
         'by_entity_window'::text as path, a.outcome_type, a.value, a.ts_event, a.ts_received,
         a.ts_preds[greatest(a.run, 1)] as ts_pred
  from placed a
  where a.ours[greatest(a.run, 1)]
    and (a.run > 0 or a.ts_event >= a.ts_preds[1] - :leakage_horizon::interval and not exists (
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
from paired
-- An event more than the horizon before its prediction is history, not leakage (the entity
-- path already holds to this; KNOWN bounds only by the cohort start).
where ts_event >= ts_pred - :leakage_horizon::interval`;

/**
 * The outcome that decides each prediction's label (rules 5 and 6 of docs/label-semantics.md):
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

/**
 * The cohort's predictions with the columns {@link createLabeled} and the export read, each
 * with `window_elapsed` (its label window has ended by `:as_of`). `offset 0` keeps the planner
 * from pasting the test into every place that uses it: interval arithmetic costs, and the
 * label columns need it up to twice per row. (Listing the columns rather than `p.*` spares a
 * million-row projection of the unused ones.)
 */
export const COHORT_PREDICTIONS = `(
  select p.prediction_id, p.model_name, p.model_version, p.environment, p.region, p.segment,
         p.entity_ids, p.request_id, p.item_id, p.position, p.ts_pred, p.score, p.threshold, p.decision,
         p.propensity, p.is_exploration,
         p.ts_pred + :label_window::interval <= :as_of::timestamptz as window_elapsed
  from predictions p
  where ${IN_COHORT}
  offset 0)`;

/**
 * The label columns for a {@link COHORT_PREDICTIONS} row `p` left-joined to its deciding
 * outcome `d`; shared by {@link createLabeled} and the export so both label identically.
 */
export const LABEL_COLUMNS = `
  p.window_elapsed,
  case when :regression::boolean then null
       when d.prediction_id is null then case when :absent_negative::boolean then 0 end
       when d.positive then 1
       else 0 end as y,
  case when :regression::boolean then d.value end as target,
  case when :regression::boolean then d.prediction_id is not null and p.window_elapsed
       when :absent_negative::boolean then p.window_elapsed or coalesce(d.positive, false)
       else d.prediction_id is not null and p.window_elapsed end as is_final,
  d.value as outcome_value`;

/** A score a binary definition can read as a probability; NaN sorts above 1, so it fails. */
export const PROBABILITY_SCORE = '(p.score >= 0 and p.score <= 1)';

/**
 * One row per cohort prediction with its label as of `:as_of`, the deciding outcome's value,
 * its logged propensity and whether it was exploration traffic, and its value of each of the
 * definition's slice dimensions `dims` (the same as the bound `:dims`) as columns v1..vJ
 * (./slice-values), and `flagged` ({@link FLAGGED}). With `probabilityScores` (binary
 * evaluation) a prediction scored outside [0, 1] is left out, {@link INVALID_SCORES} counts it,
 * and so is one without a logged decision under `decision_source: logged` ({@link NO_DECISIONS}).
 * With `ranking`, each row also keeps its request_id and position (./ranking-metrics); with
 * `scoredOnly`, a prediction without a score is left out ({@link NO_SCORES} counts it).
 */
export function createLabeled(dims: readonly string[], { probabilityScores = false, ranking = false, scoredOnly = false } = {}): string {
  return `
create temp table hs_labeled on commit drop as
with deciding as (${DECIDING})
select p.prediction_id, p.score,${ranking ? ' p.request_id, p.position,' : ''}
       coalesce(p.threshold, :default_threshold::float8) as threshold,
       ${FLAGGED} as flagged,
       p.propensity, coalesce(p.is_exploration, false) as is_exploration,
       ${[...sliceValueColumns(dims, 'p'), ''].join(',\n       ')}${LABEL_COLUMNS}
from ${COHORT_PREDICTIONS} p left join deciding d on d.prediction_id = p.prediction_id${
    probabilityScores
      ? `
where ${PROBABILITY_SCORE} and (not :logged_decisions::boolean or p.decision is not null)`
      : scoredOnly
        ? `
where p.score is not null`
        : ''
  }`;
}

/**
 * The cohort's predictions that log no score (a ranker's items, a decision-only log): left out
 * of every score metric (`excluded.no_score`), an index probe of their partial index (migration 013).
 */
export const NO_SCORES = `
  select count(*)::int as no_score from predictions p
  where ${IN_COHORT} and p.score is null`;

/**
 * Whether a prediction `p` was decided positive: its score at or above its threshold, or under
 * `decision_source: logged` its logged decision one of `:positive_decisions`.
 */
export const FLAGGED = `case when :logged_decisions::boolean then p.decision = any(:positive_decisions::text[])
            else p.score >= coalesce(p.threshold, :default_threshold::float8) end`;

/**
 * Under `decision_source: logged`, the cohort's predictions with a valid score that logged no
 * decision: left out of every metric (`excluded.no_decision`).
 */
export const NO_DECISIONS = `
  select count(*)::int as no_decision from predictions p
  where ${IN_COHORT} and ${PROBABILITY_SCORE} and p.decision is null`;

/**
 * The cohort's predictions a binary evaluation leaves out for a score outside [0, 1] (stored
 * before the model's score range, migration 004): an index probe of its partial index.
 */
export const INVALID_SCORES = `
  select count(*) as invalid_score from predictions p
  where ${IN_COHORT} and not ${PROBABILITY_SCORE}`;

/** Predictions in the months an evaluation reads outcomes from (docs/join-semantics.md). */
const NEAR_REACH = `p.ts_pred >= :start_ts::timestamptz - :leakage_horizon::interval
    and p.ts_pred < :end_ts::timestamptz + :label_window::interval`;

/**
 * Join accounting for the evaluation document; each outcome counts once per status and
 * path. `unmatched` counts outcomes the definition names, known at as-of, whose event falls
 * in this cohort's reach `[start, end + window)` and whose join key names no prediction at
 * all: the ledger `unmatched_outcomes` (migrations 003, 008). An outcome in `hs_matches` named
 * a prediction, so only the others can be unmatched; of those, one whose key names a stored
 * prediction id (prediction_keys, one probe), or a prediction with ts_pred in
 * `[start − leakage horizon, end + window)` (constant bounds, so the planner prunes to those
 * months), is not. Only the rest, the outcomes that are unmatched or name a prediction further
 * away, ask the ledger, whose test searches every month: the count is the ledger's, at a cost
 * that does not grow with the months kept.
 */
export const JOIN_COUNTS = `
with in_reach as materialized (
  select o.outcome_id, o.ts_event, o.prediction_id, o.request_id, o.item_id, o.entity_ids from outcomes o
  where o.outcome_type = any(:outcome_types::text[])
    and o.ts_received <= :as_of::timestamptz
    and o.ts_event >= :start_ts::timestamptz
    and o.ts_event < :end_ts::timestamptz + :label_window::interval
    and not exists (select 1 from hs_matches m where m.outcome_id = o.outcome_id)
),
candidates as materialized (
  select r.outcome_id, r.ts_event from in_reach r
  where r.prediction_id is not null
    -- One index probe per outcome: left to itself the planner hashes all of prediction_keys
    -- (every prediction ever stored, of every model) to answer a few thousand probes, a cost
    -- that grows with the history (0.4 s of a 10k cohort's 0.6 s at 1M stored predictions).
    -- OFFSET keeps the sublink from being turned into that anti-join.
    and not exists (select 1 from prediction_keys k where k.prediction_id = r.prediction_id offset 0)
  union all
  select r.outcome_id, r.ts_event from in_reach r
  where r.prediction_id is null and r.request_id is not null and r.item_id is not null
    and not exists (select 1 from predictions p where p.request_id = r.request_id and p.item_id = r.item_id and ${NEAR_REACH})
  union all
  select r.outcome_id, r.ts_event from in_reach r
  where r.prediction_id is null and (r.request_id is null or r.item_id is null)
    and (:entity_key::text is null or r.entity_ids ->> :entity_key::text is null or not exists (
      select 1 from predictions p
      where p.entity_ids @> jsonb_build_object(:entity_key::text, r.entity_ids ->> :entity_key::text) and ${NEAR_REACH}))
)
-- Distinct ids count the same under any collation; "C" only makes their sorts cheap.
select
  count(distinct outcome_id collate "C") filter (where status = 'joined' and path = 'by_prediction_id') as by_prediction_id,
  count(distinct outcome_id collate "C") filter (where status = 'joined' and path = 'by_request_item') as by_request_item,
  count(distinct outcome_id collate "C") filter (where status = 'joined' and path = 'by_entity_window') as by_entity_window,
  count(distinct outcome_id collate "C") filter (where status = 'rejected_before_prediction') as rejected_before_prediction,
  count(distinct outcome_id collate "C") filter (where status = 'outside_window') as outside_window,
  (select count(*) from candidates c
   where exists (select 1 from unmatched_outcomes(:entity_key::text) u
                 where u.outcome_id = c.outcome_id and u.ts_event = c.ts_event)) as unmatched
from hs_matches`;

/** How many of the labeled table's predictions were exploration traffic (`is_exploration`). */
export const EXPLORATION_COUNT = 'select count(*) filter (where is_exploration) as exploration from hs_labeled';

/**
 * The labeled table narrowed to one side of the exploration split, under the name the metric
 * statements read: the cohort's table is set aside as `hs_labeled_cohort` until
 * {@link RESTORE_LABELED}.
 */
export const SET_ASIDE_LABELED = 'alter table hs_labeled rename to hs_labeled_cohort';
export const LABELED_TRAFFIC = `
create temp table hs_labeled on commit drop as
select * from hs_labeled_cohort where is_exploration = :exploration::boolean`;
export const DROP_LABELED_TRAFFIC = 'drop table hs_labeled';
export const RESTORE_LABELED = 'alter table hs_labeled_cohort rename to hs_labeled';
