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
 * prediction id), the chunks' boundaries, as the binary evaluation counts predictions. A
 * boundary is given to the millisecond, and predictions logged at the same one stay together:
 * a start equal to another is one start (no empty chunk [t, t)). At most `:max_starts` (one
 * more than a range may have, so that too many is seen, not read).
 */
export const CHUNK_STARTS = `
select distinct to_char(date_trunc('milliseconds', ts_pred) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as start
from (
  select p.ts_pred, row_number() over (order by p.ts_pred, p.prediction_id) - 1 as k
  from predictions p
  where ${IN_COHORT} and ${PROBABILITY_SCORE}
    and (not :logged_decisions::boolean or p.decision is not null)
) ranked
where k % :chunk_size = 0
order by start
limit :max_starts`;

/**
 * `--every P`: the starts `:from + k · P` for k = 0 … `:max_chunks`, each from the range's start
 * (a month added to each chunk's end would drift: May 31, Jun 30, Jul 30, …), as the caller
 * needs them to see whether the range takes more than `:max_chunks` chunks.
 */
export const CHUNK_PERIOD_STARTS = `
select to_char((:from::timestamptz + :every::interval * k) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as start
from generate_series(0, :max_chunks::int) as k
order by k`;
