import type { Knex } from 'knex';
import type { CohortRecord } from '../../contracts/cohort';
import type { LabelDefinition } from '../../contracts/label-definition';
import { type AlertSummary, sliceLabel } from '../../contracts/monitoring';
import { toUtcIso } from '../../contracts/utc-timestamp';
import type { BinaryMetrics } from '../../stats/finish-metrics';
import { ESTIMATORS } from '../../stats/off-policy';
import { computeDrift } from '../diagnose/drift';
import { cohortRecordFromRow, loadCohort } from '../evaluate/cohorts';
import { measureLabelLatency } from '../evaluate/label-latency';
import { cohortAlerts } from '../monitoring/alert-store';
import { estimatePolicyValue, OffPolicyInputError } from '../off-policy/off-policy';
import { estimatesSpec, psiSpec, reliabilitySpec, renderChart, type SeriesPoint, seriesSpec, thresholdSpec } from './charts';
import type { ReportSection, Table } from './html';
import { intervalSection } from './interval-section';
import {
  HEADLINE_METRICS,
  headlineRow,
  ReportInputError,
  type ReportSnapshot,
  reportSnapshots,
  requireBinary,
  settledSnapshot,
  snapshotLabel,
} from './report-snapshots';
import { rankingSection } from './ranking-section';

/** The rates the checkpoint chart draws (counts would flatten them). */
const CHARTED_METRICS = ['label_availability', 'roc_auc', 'pr_auc', 'precision', 'recall', 'brier', 'ece'] as const;

/** The bootstrap of the report's off-policy section: `hindsight ope`'s defaults. */
const OPE_BOOTSTRAP = { resamples: 1000, seed: 1, alpha: 0.05 };

export interface CohortReport {
  record: CohortRecord;
  sections: ReportSection[];
}

/**
 * Everything a cohort's report shows (see docs/reports.md), each section from the stored
 * snapshots and alerts or from the same activities the commands run: latency, drift and
 * off-policy estimates.
 */
export async function buildCohortReport(db: Knex, cohortId: string): Promise<CohortReport> {
  const { record, definition } = await loadCohort(db, cohortId);
  // A ranking definition scores its items as a binary one does, and adds its ranking section.
  if (definition.task !== 'ranking') requireBinary(definition);
  const snapshots = await reportSnapshots(db, cohortId);
  const settled = settledSnapshot(snapshots);
  if (!settled) throw new ReportInputError(`cohort ${cohortId} has no snapshot yet; a report needs at least its first checkpoint`);
  const alerts = await cohortAlerts(db, cohortId);
  return {
    record,
    sections: [
      await headlineSection(snapshots),
      await intervalSection(db, record, definition, settled),
      ...(definition.task === 'ranking' ? [await rankingSection(snapshots, settled)] : []),
      await reliabilitySection(snapshots),
      await labelAvailabilitySection(db, record, definition, snapshots, settled),
      await thresholdSection(settled),
      slicesSection(settled, alerts),
      await psiSection(db, record),
      await offPolicySection(db, record, definition, settled),
    ],
  };
}

async function headlineSection(snapshots: ReportSnapshot[]): Promise<ReportSection> {
  const points: SeriesPoint[] = snapshots.flatMap((s) =>
    CHARTED_METRICS.flatMap((m) => (s.overall[m] === null ? [] : [{ x: snapshotLabel(s), series: m, value: s.overall[m] }])),
  );
  const table: Table = { columns: ['snapshot', 'stage', 'as of', ...HEADLINE_METRICS], rows: snapshots.map(headlineRow) };
  const projected = snapshots.filter((s) => s.document.projected);
  const tables = [table];
  if (projected.length > 0) {
    tables.push({
      columns: ['snapshot', 'projected recall', 'projected precision', 'projected positive rate'],
      rows: projected.map((s) => {
        const { overall } = s.document.projected!;
        return [snapshotLabel(s), overall.recall.projected, overall.precision.projected, overall.positive_rate.projected];
      }),
    });
  }
  return {
    id: 'headline',
    title: 'Headline metrics across checkpoints and revisions',
    notes: [
      'Each snapshot is immutable: provisional ones were taken at the checkpoints, ' +
        'final when the label window closed, revised when late labels changed it.',
    ],
    charts: [
      {
        id: 'checkpoints',
        caption: 'headline metrics per snapshot',
        svg: await renderChart(seriesSpec('Metrics per checkpoint and revision', points, { xTitle: 'snapshot', yTitle: 'value' })),
      },
    ],
    tables,
  };
}

/** One diagram per checkpoint, from its latest revision. */
async function reliabilitySection(snapshots: ReportSnapshot[]): Promise<ReportSection> {
  const latest = new Map<string, ReportSnapshot>();
  for (const s of snapshots) if ((latest.get(s.checkpoint)?.revision ?? 0) < s.revision) latest.set(s.checkpoint, s);
  const charts = [];
  const notes = [
    'Mean predicted score against the fraction positive per bin: ' +
      'ten equal-width bins and ten bins between score deciles (empty bins dropped). ' +
      'The dashed diagonal is perfect calibration.',
  ];
  for (const s of latest.values()) {
    const { uniform, quantile } = s.overall.calibration;
    if (uniform.length === 0) {
      notes.push(`${snapshotLabel(s)}: no labeled predictions, so no diagram.`);
      continue;
    }
    const points = [
      ...uniform.map((b) => ({
        binning: 'uniform' as const,
        mean_predicted: b.mean_predicted,
        fraction_positive: b.fraction_positive,
        count: b.count,
      })),
      ...quantile.map((b) => ({
        binning: 'quantile' as const,
        mean_predicted: b.mean_predicted,
        fraction_positive: b.fraction_positive,
        count: b.count,
      })),
    ];
    charts.push({
      id: `reliability-${s.checkpoint}`,
      caption: `${snapshotLabel(s)} (${s.stage}), ECE ${s.overall.ece?.toFixed(4) ?? '—'}`,
      svg: await renderChart(reliabilitySpec(`Reliability at ${snapshotLabel(s)}`, points)),
    });
  }
  return { id: 'reliability', title: 'Reliability diagrams', notes, charts, tables: [] };
}

/**
 * Per checkpoint: the labels final then (`label_availability`), the share of the settled
 * snapshot's positives already known, and the share earlier finalized cohorts had known at
 * the same checkpoint (the expected curve).
 */
async function labelAvailabilitySection(
  db: Knex,
  record: CohortRecord,
  definition: LabelDefinition,
  snapshots: ReportSnapshot[],
  settled: ReportSnapshot,
): Promise<ReportSection> {
  const latency = await measureLabelLatency(db, { cohort: record, definition, asOf: settled.as_of });
  const expected = new Map(latency.overall.expected_completeness.map((c) => [c.checkpoint, c.expected_share]));
  const eventual = settled.checkpoint === 'final' ? settled.overall.n_positive : null;
  const checkpoints = [...definition.checkpoints, 'final'];
  const rows: Table['rows'] = [];
  const points: SeriesPoint[] = [];
  for (const checkpoint of checkpoints) {
    const s = snapshots.filter((x) => x.checkpoint === checkpoint && x.revision === 1)[0];
    const known = s && eventual ? s.overall.n_positive / eventual : null;
    const expectedShare = checkpoint === 'final' ? null : (expected.get(checkpoint) ?? null);
    rows.push([checkpoint, s?.overall.label_availability ?? null, known, expectedShare]);
    if (s?.overall.label_availability != null)
      points.push({ x: checkpoint, series: 'label availability', value: s.overall.label_availability });
    if (known !== null) points.push({ x: checkpoint, series: 'positives known (observed)', value: known });
    if (expectedShare !== null) points.push({ x: checkpoint, series: 'positives known (expected)', value: expectedShare });
  }
  const notes = [
    latency.history_cohorts.length === 0
      ? 'No earlier finalized cohort of this model and definition, so no expected curve yet.'
      : `Expected shares from ${latency.history_cohorts.length} earlier finalized cohort(s): ${latency.history_cohorts.join(', ')}.`,
  ];
  if (eventual === null) notes.push('The cohort has no final snapshot yet, so the observed share of its eventual positives is unknown.');
  return {
    id: 'label_availability',
    title: 'Label availability against its expected curve',
    notes,
    charts:
      points.length === 0
        ? []
        : [
            {
              id: 'label-availability',
              caption: 'shares at each checkpoint (revision 1)',
              svg: await renderChart(seriesSpec('Label availability', points, { xTitle: 'checkpoint', yTitle: 'share' })),
            },
          ],
    tables: [{ columns: ['checkpoint', 'label availability', 'positives known (observed)', 'positives known (expected)'], rows }],
  };
}

async function thresholdSection(settled: ReportSnapshot): Promise<ReportSection> {
  const curve = settled.overall.threshold_curve;
  const rows = curve.flatMap((p) =>
    (['precision', 'recall', 'f1'] as const).flatMap((metric) =>
      p[metric] === null ? [] : [{ threshold: p.threshold, metric, value: p[metric] }],
    ),
  );
  return {
    id: 'threshold',
    title: `Threshold curve (${snapshotLabel(settled)})`,
    notes: curve.length === 0 ? ['No labeled predictions, so no threshold curve.'] : [],
    charts:
      rows.length === 0
        ? []
        : [
            {
              id: 'threshold',
              caption: `precision, recall and f1 by threshold at ${snapshotLabel(settled)}`,
              svg: await renderChart(thresholdSpec('Threshold curve', rows)),
            },
          ],
    tables: [],
  };
}

function slicesSection(settled: ReportSnapshot, alerts: AlertSummary[]): ReportSection {
  const firing = (slice: string) => alerts.filter((a) => a.slice === slice && a.state === 'firing');
  const slices = settled.document.slices as Array<BinaryMetrics & { dimension: string; value: string | null }>;
  const rows: Table['rows'] = [];
  const flagged: number[] = [];
  const groups = [
    { label: 'overall', metrics: settled.overall },
    ...slices.map((s) => ({ label: sliceLabel(s.dimension, s.value), metrics: s })),
  ];
  for (const group of groups) {
    const raised = firing(group.label);
    if (raised.length > 0) flagged.push(rows.length);
    const m = group.metrics;
    rows.push([
      group.label,
      m.n,
      m.n_labeled,
      m.base_rate,
      m.roc_auc,
      m.precision,
      m.recall,
      m.brier,
      raised.map((a) => `${a.rule} (${a.severity})`).join(', ') || null,
    ]);
  }
  const tables: Table[] = [
    { columns: ['slice', 'n', 'n_labeled', 'base_rate', 'roc_auc', 'precision', 'recall', 'brier', 'firing alerts'], rows, flagged },
  ];
  if (alerts.length > 0) {
    tables.push({
      columns: ['alert', 'rule', 'kind', 'slice', 'checkpoint', 'severity', 'state', 'observed', 'baseline', 'diagnosis'],
      rows: alerts.map((a) => [a.alertId, a.rule, a.kind, a.slice, a.checkpoint, a.severity, a.state, a.observed, a.baseline, a.verdict]),
    });
  }
  return {
    id: 'slices',
    title: `Slices and alerts (${snapshotLabel(settled)})`,
    notes: [
      alerts.length === 0
        ? 'No alert was raised on this cohort.'
        : `${alerts.length} alert(s) on this cohort; slices with a firing alert are highlighted.`,
    ],
    charts: [],
    tables,
  };
}

/** The cohort of the same model, definition and environment that started last before this one. */
async function previousCohort(db: Knex, record: CohortRecord): Promise<CohortRecord | undefined> {
  const row = await db('cohorts')
    .where({
      model_name: record.model_name,
      label_definition_name: record.label_definition_name,
      label_definition_version: record.label_definition_version,
    })
    .whereRaw('environment is not distinct from ?', [record.environment])
    .where('start_ts', '<', toUtcIso(record.start))
    .orderBy('start_ts', 'desc')
    .first();
  return row ? cohortRecordFromRow(row) : undefined;
}

const edge = (x: number | null) => (x === null ? '∞' : x.toFixed(3));

async function psiSection(db: Knex, record: CohortRecord): Promise<ReportSection> {
  const previous = await previousCohort(db, record);
  const base = { id: 'score_psi', title: 'Score PSI', tables: [] };
  if (!previous) return { ...base, notes: ['No earlier cohort of this model and definition to compare the scores with.'], charts: [] };
  const drift = await computeDrift(db, { model_name: record.model_name, reference: previous, current: record, features: [] });
  const score = drift.variables.find((v) => v.variable === 'score')!;
  const notes = [
    `Against cohort ${previous.cohort_id} [${previous.start}, ${previous.end}): ` +
      `PSI ${score.psi === null ? `undefined (${Object.values(score.undefined_metrics).join('; ')})` : score.psi.toFixed(4)}, ` +
      `KS ${score.ks?.toFixed(4) ?? '—'} (n ${score.n_reference} → ${score.n_current}).`,
  ];
  const bins = score.bins.flatMap((b) => {
    const bin = `${b.lower === null ? '-∞' : edge(b.lower)}–${edge(b.upper)}`;
    return [
      { bin, side: 'reference' as const, share: b.reference_share },
      { bin, side: 'current' as const, share: b.current_share },
    ];
  });
  return {
    ...base,
    notes,
    charts:
      bins.length === 0
        ? []
        : [{ id: 'score-psi', caption: 'share of predictions per score bin', svg: await renderChart(psiSpec('Score distribution', bins)) }],
  };
}

/**
 * Only where the cohort logged propensities: the value of the logged decision rule without
 * its exploration (`hindsight ope --target greedy`), rewarded by the definition's positive outcomes.
 */
async function offPolicySection(
  db: Knex,
  record: CohortRecord,
  definition: LabelDefinition,
  settled: ReportSnapshot,
): Promise<ReportSection> {
  const base = { id: 'off_policy', title: 'Off-policy estimates', tables: [] as Table[], charts: [] as ReportSection['charts'] };
  const logged = await db('predictions')
    .where({ model_name: record.model_name, model_version: record.model_version })
    // A cohort without an environment takes every environment's predictions, as its evaluation does.
    .where((query) => (record.environment === null ? query : query.where({ environment: record.environment })))
    .where('ts_pred', '>=', toUtcIso(record.start))
    .where('ts_pred', '<', toUtcIso(record.end))
    .whereNotNull('propensity')
    .first(db.raw('1 as found'));
  if (!logged) return { ...base, notes: ['No prediction of this cohort logged a propensity, so no off-policy estimate can be made.'] };
  let document;
  try {
    document = await estimatePolicyValue(db, {
      cohort: record,
      definition,
      asOf: settled.as_of,
      rewardTypes: definition.positive_outcome_types,
      rewardValue: false,
      target: { kind: 'greedy', threshold: null },
      clip: null,
      ...OPE_BOOTSTRAP,
    });
  } catch (error) {
    if (error instanceof OffPolicyInputError)
      return { ...base, notes: [`Propensities were logged, but no estimate can be made: ${error.message}`] };
    throw error;
  }
  const level = `${Math.round((1 - OPE_BOOTSTRAP.alpha) * 100)}%`;
  const rows = ESTIMATORS.map((name) => ({ estimator: name, ...document.estimators[name] }));
  const drawn = rows.flatMap((r) =>
    r.value === null || r.ci_low === null || r.ci_high === null
      ? []
      : [{ estimator: r.estimator, value: r.value, ci_low: r.ci_low, ci_high: r.ci_high }],
  );
  return {
    ...base,
    notes: [
      `Value of the logged decision rule without exploration, each prediction at its own threshold; ` +
        `reward 1 when ${definition.positive_outcome_types.join(' or ')} joined within ${definition.window}, as of ${document.as_of}. ` +
        `${level} percentile bootstrap intervals (${OPE_BOOTSTRAP.resamples} resamples, seed ${OPE_BOOTSTRAP.seed}); ` +
        `the dashed line is the logged policy's value.`,
      ...document.warnings,
    ],
    charts:
      drawn.length === 0
        ? []
        : [
            {
              id: 'off-policy',
              caption: `estimates with ${level} intervals`,
              svg: await renderChart(estimatesSpec('Off-policy estimates', drawn, document.logged_policy_value)),
            },
          ],
    tables: [
      {
        columns: ['estimator', 'value', 'ci low', 'ci high'],
        rows: [
          ...rows.map((r) => [r.estimator, r.value, r.ci_low, r.ci_high]),
          ['logged policy', document.logged_policy_value, null, null],
          ['rounds (n)', document.n, null, null],
          ['effective sample size', document.effective_sample_size, null, null],
        ],
      },
    ],
  };
}
