import { sliceColumn } from './slice-values';

/**
 * The labeled rows of `hs_labeled` (./join-outcomes) that `evaluate --intervals` resamples:
 * score, label, whether it was decided positive (`flagged`, as the evaluation counts tp and fp), and the value of each slice dimension (v1..vJ), in the definition's order.
 */
export function intervalRows(dims: readonly string[]): string {
  const slices = dims.map((_, i) => `, ${sliceColumn(i)}`).join('');
  return `
select score, y::int as y, flagged${slices}
from hs_labeled
where y is not null
order by prediction_id`;
}

/** The same for a regression definition: score, target and slice values of the labeled rows. */
export function regressionIntervalRows(dims: readonly string[]): string {
  const slices = dims.map((_, i) => `, ${sliceColumn(i)}`).join('');
  return `
select score, target${slices}
from hs_labeled
where target is not null
order by prediction_id`;
}
