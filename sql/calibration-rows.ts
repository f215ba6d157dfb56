/**
 * The labeled rows a calibrator or a threshold is fitted and judged on: the `hs_labeled` rows
 * (./join-outcomes, built exactly as the evaluation builds them, scores outside [0, 1] left
 * out) that have a label, as two float8 arrays in one row, ordered by score then prediction
 * id so a refit reads them in the same order.
 */
export const LABELED_SCORES = `
select count(*)::int as n,
       coalesce(array_agg(score order by score, prediction_id) filter (where y is not null), '{}') as scores,
       coalesce(array_agg(y order by score, prediction_id) filter (where y is not null), '{}') as labels
from hs_labeled`;
