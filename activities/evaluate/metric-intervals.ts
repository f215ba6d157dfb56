import type { Knex } from 'knex';
import type { GroupMetrics } from '../../contracts/evaluation';
import { intervalRows, regressionIntervalRows } from '../../sql/interval-rows';
import { sliceColumn } from '../../sql/slice-values';
import { metricIntervals, regressionIntervals } from '../../stats/metric-intervals';

/**
 * `evaluate --intervals`: each group's 95% intervals (stats/metric-intervals), from the
 * labeled rows of the evaluation's own `hs_labeled` table, added to the group's metrics as
 * `intervals`. Reads every labeled row once; the bootstrap costs 1,000 passes over each group.
 */
export async function addMetricIntervals(
  trx: Knex.Transaction,
  dims: readonly string[],
  groups: ReadonlyArray<{ dimension: string; value: string | null; metrics: GroupMetrics }>,
): Promise<void> {
  const regression = groups.some((group) => 'rmse' in group.metrics);
  const rows = (await trx.raw(regression ? regressionIntervalRows(dims) : intervalRows(dims))).rows as Array<
    Record<string, unknown> & { score: number; y: number; flagged: boolean; target: number }
  >;
  for (const group of groups) {
    const column = group.dimension === '' ? null : sliceColumn(dims.indexOf(group.dimension));
    const members = column === null ? rows : rows.filter((row) => (row[column] ?? null) === group.value);
    if ('rmse' in group.metrics) {
      group.metrics.intervals = regressionIntervals(
        members.map((row) => row.score),
        members.map((row) => Number(row.target)),
      );
      continue;
    }
    if (!('roc_auc' in group.metrics)) continue;
    group.metrics.intervals = metricIntervals({
      scores: members.map((row) => row.score),
      labels: members.map((row) => row.y),
      flagged: members.map((row) => (row.flagged ? 1 : 0)),
    });
  }
}
