/**
 * The report's interval section: each headline metric of the settled snapshot with its 95%
 * interval, computed as `hindsight evaluate --intervals` computes it (stats/metric-intervals:
 * Wilson for the proportions, DeLong for ROC AUC, a seeded stratified bootstrap for the rest)
 * on the same cohort, definition and as-of. A snapshot taken with intervals carries them; any
 * other is evaluated again at its as-of, which sees the same outcomes it saw.
 */
import type { Knex } from 'knex';
import type { CohortRecord } from '../../contracts/cohort';
import type { LabelDefinition } from '../../contracts/label-definition';
import type { MetricIntervals } from '../../stats/metric-intervals';
import { evaluateCohort } from '../evaluate/evaluate-cohort';
import type { ReportSection } from './html';
import { HEADLINE_METRICS, type ReportSnapshot, snapshotLabel } from './report-snapshots';

/** The headline metrics that have an interval, in the headline table's order. */
export const INTERVAL_HEADLINE_METRICS = [
  'base_rate',
  'roc_auc',
  'pr_auc',
  'precision',
  'recall',
  'brier',
] as const satisfies ReadonlyArray<(typeof HEADLINE_METRICS)[number]>;

/** The intervals of the snapshot's overall group: stored with it, else evaluated again as `evaluate --intervals` does. */
export async function snapshotIntervals(
  db: Knex,
  record: CohortRecord,
  definition: LabelDefinition,
  snapshot: ReportSnapshot,
): Promise<MetricIntervals | null> {
  const stored = (snapshot.overall as { intervals?: MetricIntervals }).intervals;
  if (stored) return stored;
  const { model_name, model_version, environment, start, end } = record;
  const document = await evaluateCohort(db, { model_name, model_version, environment, start, end }, definition, snapshot.as_of, {
    intervals: true,
  });
  return (document.overall as { intervals?: MetricIntervals }).intervals ?? null;
}

export async function intervalSection(
  db: Knex,
  record: CohortRecord,
  definition: LabelDefinition,
  settled: ReportSnapshot,
): Promise<ReportSection> {
  const label = snapshotLabel(settled);
  const base = { id: 'intervals', title: `95% intervals of the headline metrics (${label})`, charts: [] };
  const intervals = await snapshotIntervals(db, record, definition, settled);
  if (!intervals) return { ...base, notes: [`No intervals for a ${definition.task} evaluation.`], tables: [] };
  const { seed, resamples } = intervals.bootstrap;
  const undefinedNotes = INTERVAL_HEADLINE_METRICS.flatMap((metric) => {
    const why = intervals.undefined_intervals[metric];
    return why ? [`${metric}: no interval, ${why}.`] : [];
  });
  return {
    ...base,
    notes: [
      `For the ${settled.stage} snapshot ${label} (as of ${settled.as_of}) only, the one the report's settled numbers come from; ` +
        `computed as hindsight evaluate --intervals computes them for the same cohort, definition and as-of: ` +
        `Wilson score intervals for the proportions, DeLong's for ROC AUC, and a stratified percentile bootstrap ` +
        `(seed ${seed}, ${resamples} resamples) for PR AUC and Brier. ` +
        `n, n_labeled, label availability and ECE have none.`,
      ...undefinedNotes,
    ],
    tables: [
      {
        columns: ['metric', 'value', '95% low', '95% high', 'method'],
        rows: INTERVAL_HEADLINE_METRICS.map((metric) => {
          const interval = intervals.metrics[metric];
          return [metric, interval.value, interval.low, interval.high, interval.method];
        }),
      },
    ],
  };
}
