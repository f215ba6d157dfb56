/**
 * The rows of the ranking metrics (stats/ranking-metrics, docs/metrics.md "Ranking metrics"):
 * each labeled row of `hs_labeled` (created with `ranking`, ./join-outcomes) that belongs to a
 * request, with its relevance, in request order so Node groups them in one pass.
 */
import { PROBABILITY_SCORE } from './join-outcomes';
import { sliceColumn } from './slice-values';

/**
 * Relevance: the label `y` (binary relevance), or the deciding outcome's value (graded, when
 * `:regression`); a row without one is not relevant (0). A graded row is final once its
 * window has ended (no value by then means not relevant); a binary one as its label is.
 */
export function rankingRows(dims: readonly string[]): string {
  const columns = dims.map((_, i) => `l.${sliceColumn(i)}`);
  return `
select l.request_id, l.score, coalesce(l.position, 0) as position,
       case when :regression::boolean then l.window_elapsed else l.is_final end as is_final,
       coalesce(case when :regression::boolean then l.target else l.y end, 0)::float8 as relevance${columns.map((c) => `, ${c}`).join('')}
from hs_labeled l
where l.request_id is not null
order by l.request_id`;
}

/**
 * After the ranking metrics read every row, the item-level suite drops what it cannot read:
 * with binary relevance the rows whose score is no probability (as a binary definition never
 * takes them in: ./join-outcomes `createLabeled` with `probabilityScores`), with graded
 * relevance the rows without a score.
 */
export const dropUnscorable = (binary: boolean) =>
  `delete from hs_labeled p where ${binary ? `not coalesce(${PROBABILITY_SCORE}, false)` : 'p.score is null'}`;

/** Labeled rows that name no request: left out of the ranking metrics, counted. */
export const WITHOUT_REQUEST = `select count(*) as n from hs_labeled l where l.request_id is null`;
