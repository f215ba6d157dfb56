/**
 * What the projection of a provisional snapshot to finalization learns from one finalized
 * cohort (docs/diagnose.md), over the temp tables of ./join-outcomes joined as of now
 * (`hs_matches`, `hs_labeled` with probability scores): per slice group, per cell of the
 * eventual confusion matrix (label y, flagged at the prediction's threshold), how many
 * predictions ended in it and how many of them were already known at `end + :checkpoint`.
 * A positive is known once a joined positive outcome was received (as the latency history
 * counts it, ./label-latency); a negative once any joined outcome was.
 */
import { sliceGroups } from './slice-values';

export const completenessByCell = (dims: readonly string[]) => `
with first_known as (
  select m.prediction_id,
         min(m.ts_received) filter (where m.outcome_type = any(:positive_types::text[])) as positive_at,
         min(m.ts_received) as labeled_at
  from hs_matches m
  where m.status = 'joined'
  group by m.prediction_id
)
select g.dim, g.val, l.y, l.flagged,
       count(*) as eventual,
       count(*) filter (where case when l.y = 1 then f.positive_at else f.labeled_at end
                              <= :end_ts::timestamptz + :checkpoint::interval) as known
from hs_labeled l
left join first_known f on f.prediction_id = l.prediction_id
${sliceGroups(dims, 'l')}
where l.y is not null
group by g.dim, g.val, l.y, l.flagged`;
