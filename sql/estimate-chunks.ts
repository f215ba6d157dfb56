import { IN_COHORT, PROBABILITY_SCORE } from './join-outcomes';

/**
 * `hindsight estimate`: every row of one chunk's `hs_labeled` (./join-outcomes, built as the
 * evaluation builds it: scores in [0, 1], and under `decision_source: logged` only predictions
 * with a decision): its score, its decision (`flagged`) and its label as of `:as_of` (null
 * when it has none yet).
 */
export const CHUNK_ROWS = `
select coalesce(array_agg(score order by prediction_id), '{}') as scores,
       coalesce(array_agg(flagged::int order by prediction_id), '{}') as flagged,
       coalesce(array_agg(y order by prediction_id), '{}') as labels
from hs_labeled`;

/**
 * `--chunk-size N`: the start of every N-th prediction of the range in time order (ties by
 * prediction id), the chunks' boundaries, as the binary evaluation counts predictions.
 */
export const CHUNK_STARTS = `
select to_char(ts_pred at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as start
from (
  select p.ts_pred, row_number() over (order by p.ts_pred, p.prediction_id) - 1 as k
  from predictions p
  where ${IN_COHORT} and ${PROBABILITY_SCORE}
    and (not :logged_decisions::boolean or p.decision is not null)
) ranked
where k % :chunk_size = 0
order by k`;
