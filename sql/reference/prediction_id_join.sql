-- The prediction-id join with the time-leakage guard and the as-of rule, in plain SQL.
--
-- The same rules the evaluation applies (docs/label-semantics.md), for the outcomes that
-- carry a prediction_id, which is the path most services log. Outcomes joined by
-- request + item or by entity are not read here: a cohort whose labels come that way gets
-- other numbers from this file than from `hindsight evaluate`.
--
-- Parameters, as psql variables (psql -v name=value):
--   model, version     the model's name and version
--   environment        the environment, or '' for every environment
--   start_ts, end_ts   the cohort: predictions with start_ts <= ts_pred < end_ts
--   as_of              only outcomes received by this moment are known
--   label_window       the label definition's window, e.g. P14D or '14 days'
--   leakage_horizon    the definition's leakage_horizon (its window when it has none)
--   positive_types     the positive outcome types as an array literal, e.g. '{chargeback}'
--   negative_types     the negative outcome types, e.g. '{no_chargeback}' (or '{}')
--   absent_means       negative or unknown
--
-- Example:
--   psql "$DATABASE_URL" -v model=fraud-model -v version=3.2.0 -v environment=production \
--     -v start_ts=2026-10-01T00:00:00Z -v end_ts=2026-10-08T00:00:00Z \
--     -v as_of=2026-11-01T00:00:00Z -v label_window=P90D -v leakage_horizon=P90D \
--     -v positive_types='{chargeback}' -v negative_types='{}' -v absent_means=negative \
--     -f sql/reference/prediction_id_join.sql
--
-- It leaves three temporary views for the rest of the session (brier.sql and
-- calibration_bins.sql read the last) and prints the last:
--   reference_cohort     the cohort's predictions
--   reference_pairs      every (outcome, prediction) pair with its status
--   labeled_predictions  one row per cohort prediction with its label as of as_of

create or replace temporary view reference_cohort as
select prediction_id, ts_pred, score,
       ts_pred + :'label_window'::interval <= :'as_of'::timestamptz as window_elapsed
from predictions
where model_name = :'model'
  and model_version = :'version'
  and (:'environment' = '' or environment = :'environment')
  and ts_pred >= :'start_ts'::timestamptz
  and ts_pred < :'end_ts'::timestamptz;

create or replace temporary view reference_pairs as
with known as (
  -- As-of: an outcome counts only once Hindsight has received it.
  select outcome_id, prediction_id, outcome_type, ts_event
  from outcomes
  where prediction_id is not null
    and outcome_type = any(:'positive_types'::text[] || :'negative_types'::text[])
    and ts_received <= :'as_of'::timestamptz
)
select c.prediction_id,
       c.ts_pred,
       k.outcome_id,
       k.ts_event,
       k.outcome_type = any(:'positive_types'::text[]) as positive,
       -- The time-leakage guard: an outcome before its prediction is never joined.
       case when k.ts_event < c.ts_pred then 'rejected_before_prediction'
            when k.ts_event >= c.ts_pred + :'label_window'::interval then 'outside_window'
            else 'joined'
       end as status
from reference_cohort c
join known k on k.prediction_id = c.prediction_id
-- Further back than the leakage horizon an outcome is history: no pair at all.
where k.ts_event >= c.ts_pred - :'leakage_horizon'::interval;

create or replace temporary view labeled_predictions as
with deciding as (
  -- The outcome that decides the label: under absent_means negative any positive wins;
  -- otherwise the latest event, a tie going to the positive (then the larger outcome_id,
  -- so that reruns agree).
  select distinct on (prediction_id) prediction_id, outcome_id, positive
  from reference_pairs
  where status = 'joined'
  order by prediction_id,
           (:'absent_means' = 'negative' and positive) desc,
           ts_event desc,
           positive desc,
           outcome_id desc
)
select c.prediction_id,
       c.ts_pred,
       c.score,
       -- absent_means negative: no known positive is a 0; unknown: no outcome, no label.
       case when :'absent_means' = 'negative' then coalesce(d.positive, false)::int
            else d.positive::int
       end as label,
       -- Final: nothing that can still arrive would change the label.
       case when :'absent_means' = 'negative' then c.window_elapsed or coalesce(d.positive, false)
            else d.prediction_id is not null and c.window_elapsed
       end as is_final,
       d.outcome_id as deciding_outcome_id
from reference_cohort c
left join deciding d on d.prediction_id = c.prediction_id
-- A binary evaluation reads scores as probabilities and leaves any other score out of its
-- labels and metrics (the evaluation's excluded.invalid_score); their outcomes still count
-- in the join (reference_pairs).
where c.score >= 0 and c.score <= 1;

select * from labeled_predictions order by ts_pred, prediction_id;
