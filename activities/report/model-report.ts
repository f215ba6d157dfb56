import type { Knex } from 'knex';
import { loadCohort } from '../evaluate/cohorts';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { renderChart, seriesSpec, type AlertMarker, type SeriesPoint } from './charts';
import {
  HEADLINE_METRICS,
  ReportInputError,
  reportSnapshots,
  requireBinary,
  settledSnapshot,
  snapshotLabel,
  type ReportSnapshot,
} from './report-snapshots';
import type { ReportSection, Table } from './html';
import { RANKING_METRICS, rankingColumns } from './ranking-section';
import type { RankingMetrics } from '../../stats/ranking-metrics';

export interface ModelPeriod {
  model_name: string;
  model_version: string;
  /** Cohorts whose [start, end) lies inside [from, to). */
  from: string;
  to: string;
}

const CHARTED = ['roc_auc', 'pr_auc', 'precision', 'recall', 'brier', 'ece'] as const;

interface CohortWeek {
  cohort_id: string;
  start: string;
  end: string;
  snapshot: ReportSnapshot;
  alerts: Array<{ rule_name: string; severity: string; state: string; slice: string }>;
}

/** The x label of a cohort: the day it starts (cohorts are weekly in practice, any period works). */
const weekOf = (start: string) => start.slice(0, 10);

/**
 * A model version over a period: each registered cohort inside it with its settled
 * snapshot (the last final revision, else the latest provisional), its metrics over time,
 * and the alerts raised on it as markers.
 */
export async function buildModelReport(db: Knex, period: ModelPeriod): Promise<{ sections: ReportSection[] }> {
  const rows = await db('cohorts')
    .where({ model_name: period.model_name, model_version: period.model_version })
    .where('start_ts', '>=', toUtcIso(period.from))
    .where('end_ts', '<=', toUtcIso(period.to))
    .orderBy('start_ts')
    .select('cohort_id', 'start_ts', 'end_ts');
  if (rows.length === 0)
    throw new ReportInputError(
      `model ${period.model_name} version ${period.model_version} has no registered cohort lying in ` +
        `[${toUtcIso(period.from)}, ${toUtcIso(period.to)})`,
    );

  const weeks: CohortWeek[] = [];
  const unsettled: string[] = [];
  let ranking = false;
  for (const row of rows) {
    const { definition } = await loadCohort(db, row.cohort_id);
    // A ranking definition scores its items as a binary one does, and adds its ranking metrics.
    if (definition.task === 'ranking') ranking = true;
    else requireBinary(definition);
    const snapshot = settledSnapshot(await reportSnapshots(db, row.cohort_id));
    if (!snapshot) {
      unsettled.push(row.cohort_id);
      continue;
    }
    const alerts = await db('alerts')
      .where({ cohort_id: row.cohort_id })
      .orderBy('alert_id')
      .select('rule_name', 'severity', 'state', 'slice_dimension', 'slice_value');
    weeks.push({
      cohort_id: row.cohort_id,
      start: toUtcIso(row.start_ts),
      end: toUtcIso(row.end_ts),
      snapshot,
      alerts: alerts.map((a: Record<string, string | null>) => ({
        rule_name: a.rule_name!,
        severity: a.severity!,
        state: a.state!,
        slice: a.slice_dimension === '' ? 'overall' : `${a.slice_dimension}=${a.slice_value ?? 'null'}`,
      })),
    });
  }

  const points: SeriesPoint[] = weeks.flatMap((w) =>
    CHARTED.flatMap((m) => (w.snapshot.overall[m] === null ? [] : [{ x: weekOf(w.start), series: m, value: w.snapshot.overall[m] }])),
  );
  const markers: AlertMarker[] = weeks.flatMap((w) =>
    w.alerts
      .filter((a) => a.state === 'firing')
      .map((a) => ({ x: weekOf(w.start), severity: a.severity, label: `${a.rule_name} (${a.slice})` })),
  );
  const flagged = weeks.flatMap((w, i) => (w.alerts.some((a) => a.state === 'firing') ? [i] : []));
  const cohortsTable: Table = {
    columns: ['cohort', 'start', 'snapshot', 'stage', ...HEADLINE_METRICS, 'firing alerts'],
    rows: weeks.map((w) => [
      w.cohort_id,
      w.start,
      snapshotLabel(w.snapshot),
      w.snapshot.stage,
      ...HEADLINE_METRICS.map((m) => w.snapshot.overall[m]),
      w.alerts.filter((a) => a.state === 'firing').length,
    ]),
    flagged,
  };
  const alertRows = weeks.flatMap((w) => w.alerts.map((a) => [w.cohort_id, a.rule_name, a.slice, a.severity, a.state]));
  const notes = ['One point per cohort at its settled snapshot; a red triangle marks a cohort with a firing alert.'];
  if (unsettled.length > 0) notes.push(`Cohorts without any snapshot yet, left out: ${unsettled.join(', ')}.`);
  return {
    sections: [
      {
        id: 'over_time',
        title: 'Metrics over time',
        notes,
        charts:
          points.length === 0
            ? []
            : [
                {
                  id: 'over-time',
                  caption: 'headline metrics per cohort, alerts marked',
                  svg: await renderChart(seriesSpec('Metrics per cohort', points, { xTitle: 'cohort start', yTitle: 'value', markers })),
                },
              ],
        tables: [cohortsTable],
      },
      ...(ranking ? [await rankingOverTime(weeks)] : []),
      {
        id: 'alerts',
        title: 'Alerts',
        notes: [alertRows.length === 0 ? 'No alert was raised on these cohorts.' : `${alertRows.length} alert(s) on these cohorts.`],
        charts: [],
        tables: alertRows.length === 0 ? [] : [{ columns: ['cohort', 'rule', 'slice', 'severity', 'state'], rows: alertRows }],
      },
    ],
  };
}

const rankingOf = (w: CohortWeek): RankingMetrics | null => (w.snapshot.overall as { ranking?: RankingMetrics }).ranking ?? null;

/** Under a ranking definition: each cohort's NDCG@k, MRR, hit rate, precision and recall per request at its settled snapshot. */
async function rankingOverTime(weeks: CohortWeek[]): Promise<ReportSection> {
  const k = weeks.map(rankingOf).find((r) => r !== null)?.k ?? 'k';
  const columns = rankingColumns(k);
  const points: SeriesPoint[] = weeks.flatMap((w) =>
    RANKING_METRICS.flatMap((m, i) => {
      const value = rankingOf(w)?.[m] ?? null;
      return value === null ? [] : [{ x: weekOf(w.start), series: columns[i]!, value }];
    }),
  );
  return {
    id: 'ranking_over_time',
    title: 'Ranking metrics over time',
    notes: ['One point per cohort at its settled snapshot: per request, averaged over the requests (docs/metrics.md).'],
    charts:
      points.length === 0
        ? []
        : [
            {
              id: 'ranking-over-time',
              caption: 'ranking metrics per cohort',
              svg: await renderChart(seriesSpec('Ranking metrics per cohort', points, { xTitle: 'cohort start', yTitle: 'value' })),
            },
          ],
    tables: [
      {
        columns: ['cohort', 'start', 'snapshot', 'requests', ...columns],
        rows: weeks.map((w) => [
          w.cohort_id,
          w.start,
          snapshotLabel(w.snapshot),
          rankingOf(w)?.n_requests ?? null,
          ...RANKING_METRICS.map((m) => rankingOf(w)?.[m] ?? null),
        ]),
      },
    ],
  };
}
