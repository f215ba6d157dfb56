/**
 * The SQL of the diagnosis that the evaluation, latency and estimate statements do not
 * already cover (docs/diagnose.md). Values are always bound; the only text spliced in is
 * built from the validated slice dimensions (./slice-values).
 */
import { PROBABILITY_SCORE } from './join-outcomes';
import { sliceGroups, sliceValueColumns } from './slice-values';

/**
 * Σ score per slice group over the predictions of the registered cohorts `:cohort_ids`
 * (scores in [0, 1], as a binary evaluation reads them): the positives their scores expected.
 */
export const historyScoreSums = (dims: readonly string[]) => `
with scored as (
  select p.score ${sliceValueColumns(dims, 'p')
    .map((column) => `, ${column}`)
    .join('')}
  from cohorts c
  join predictions p
    on p.model_name = c.model_name and p.model_version = c.model_version
   and (c.environment is null or p.environment = c.environment)
   and p.ts_pred >= c.start_ts and p.ts_pred < c.end_ts
  where c.cohort_id = any(:cohort_ids::text[]) and ${PROBABILITY_SCORE}
)
select g.dim, g.val, sum(s.score) as sum_p
from scored s ${sliceGroups(dims, 's')}
group by g.dim, g.val`;
