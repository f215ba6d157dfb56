/**
 * The ranking section of a cohort report under a `task: "ranking"` definition: NDCG@k, MRR,
 * hit rate, precision and recall per request (the `ranking` block of each snapshot,
 * docs/metrics.md), per snapshot in the order taken, and per slice of the settled one.
 */
import { sliceLabel } from '../../contracts/monitoring';
import type { RankingMetrics } from '../../stats/ranking-metrics';
import { renderChart, type SeriesPoint, seriesSpec } from './charts';
import type { ReportSection, Table } from './html';
import { type ReportSnapshot, snapshotLabel } from './report-snapshots';

/** The rates the ranking table and chart show, in this order. */
export const RANKING_METRICS = ['ndcg', 'mrr', 'hit_rate', 'precision', 'recall'] as const;

const rankingOf = (metrics: object): RankingMetrics | null => (metrics as { ranking?: RankingMetrics }).ranking ?? null;

/** The column titles of the ranking metrics at cutoff k. */
export function rankingColumns(k: number | string): string[] {
  return [`NDCG@${k}`, 'MRR', `hit rate@${k}`, `precision@${k}`, `recall@${k}`];
}

export async function rankingSection(snapshots: ReportSnapshot[], settled: ReportSnapshot): Promise<ReportSection> {
  const k = rankingOf(settled.overall)?.k ?? 'k';
  const rows: Table['rows'] = [];
  const points: SeriesPoint[] = [];
  for (const s of snapshots) {
    const ranking = rankingOf(s.overall);
    rows.push([snapshotLabel(s), s.stage, s.as_of, ranking?.n_requests ?? null, ...RANKING_METRICS.map((m) => ranking?.[m] ?? null)]);
    for (const [i, m] of RANKING_METRICS.entries()) {
      const value = ranking?.[m] ?? null;
      if (value !== null) points.push({ x: snapshotLabel(s), series: rankingColumns(k)[i]!, value });
    }
  }
  const slices = settled.document.slices as Array<{ dimension: string; value: string | null }>;
  const sliceRows: Table['rows'] = [
    { label: 'overall', ranking: rankingOf(settled.overall) },
    ...slices.map((s) => ({ label: sliceLabel(s.dimension, s.value), ranking: rankingOf(s) })),
  ].map((group) => [group.label, group.ranking?.n_requests ?? null, ...RANKING_METRICS.map((m) => group.ranking?.[m] ?? null)]);
  return {
    id: 'ranking',
    title: 'Ranking metrics across checkpoints and revisions',
    notes: [
      `Per request (the predictions of one request_id, ranked by score, or as shown when an item logs none), averaged over the requests: NDCG@${k}, ` +
        `reciprocal rank of the first relevant item (MRR), a relevant item in the top ${k} (hit rate), ` +
        `relevant items among the top ${k} (precision) and among all relevant ones (recall, over the requests with one). ` +
        'Provisional snapshots count only the outcomes received by their checkpoint.',
    ],
    charts:
      points.length === 0
        ? []
        : [
            {
              id: 'ranking',
              caption: 'ranking metrics per snapshot',
              svg: await renderChart(
                seriesSpec('Ranking metrics per checkpoint and revision', points, { xTitle: 'snapshot', yTitle: 'value' }),
              ),
            },
          ],
    tables: [
      { columns: ['snapshot', 'stage', 'as of', 'n_requests', ...rankingColumns(k)], rows },
      { columns: [`slice (${snapshotLabel(settled)})`, 'n_requests', ...rankingColumns(k)], rows: sliceRows },
    ],
  };
}
