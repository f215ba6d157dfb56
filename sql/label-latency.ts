/**
 * Label latency of a cohort and the completeness history of earlier ones, per slice. Both
 * read the temp tables of ./join-outcomes (`hs_matches`, `hs_labeled`), so latency is
 * measured on exactly the outcomes the evaluation joins, and grouped by the slice columns
 * `hs_labeled` carries (./slice-values). The overall group is dimension '' (as in the metric
 * SQL).
 */
import { sliceGroups } from './slice-values';

/** p50/p90/p99 (linear interpolation) of event − prediction and received − event, in seconds. */
export const latencyDistribution = (dims: readonly string[]) => `
with joined as (
  select l.*,
         extract(epoch from m.ts_event - m.ts_pred)::float8 as event_delay,
         extract(epoch from m.ts_received - m.ts_event)::float8 as receipt_delay
  from hs_matches m join hs_labeled l on l.prediction_id = m.prediction_id
  where m.status = 'joined'
)
select g.dim, g.val, count(*) as n,
       percentile_cont(array[0.5, 0.9, 0.99]) within group (order by j.event_delay) as event_delay,
       percentile_cont(array[0.5, 0.9, 0.99]) within group (order by j.receipt_delay) as receipt_delay
from joined j ${sliceGroups(dims, 'j')}
group by g.dim, g.val
order by g.dim, g.val nulls last`;

/**
 * For one finalized cohort joined as of now: per slice and checkpoint, its eventual
 * positives (regression: eventual labels) and how many of them were already known, i.e. had
 * a joined positive outcome received by `end + checkpoint`. `:checkpoints` are intervals.
 */
export const completenessAtCheckpoints = (dims: readonly string[]) => `
with first_known as (
  select m.prediction_id, min(m.ts_received) as known_at
  from hs_matches m
  where m.status = 'joined'
    and case when :regression::boolean then m.value is not null else m.outcome_type = any(:positive_types::text[]) end
  group by m.prediction_id
),
eventual as (
  select l.*, f.known_at
  from hs_labeled l join first_known f on f.prediction_id = l.prediction_id
  where case when :regression::boolean then l.target is not null else l.y = 1 end
)
select g.dim, g.val, c.ordinal, count(*) as eventual,
       count(*) filter (where e.known_at <= :end_ts::timestamptz + c.checkpoint::interval) as known
from eventual e ${sliceGroups(dims, 'e')}
cross join unnest(:checkpoints::text[]) with ordinality as c(checkpoint, ordinal)
group by g.dim, g.val, c.ordinal`;

/** Registered cohorts of the same model and label definition version, finalized by as-of, that ended before this one began. */
export const FINALIZED_COHORTS = `
select cohort_id, model_name, model_version, environment, start_ts, end_ts
from cohorts
where model_name = :model and label_definition_name = :definition_name and label_definition_version = :definition_version
  and end_ts + :label_window::interval <= :as_of::timestamptz
  and end_ts <= :start_ts::timestamptz
order by end_ts desc, cohort_id
limit :max_cohorts`;

/** A row of FINALIZED_COHORTS. */
export interface FinalizedCohortRow {
  cohort_id: string;
  model_name: string;
  model_version: string;
  environment: string | null;
  start_ts: Date;
  end_ts: Date;
}
