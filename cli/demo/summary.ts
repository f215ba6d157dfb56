import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { computeDrift } from '../../activities/diagnose/drift';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import type { PositionEstimate } from '../../activities/off-policy/by-position';
import { estimatePolicyValue } from '../../activities/off-policy/off-policy';
import { estimateSlateValue, type SlateOffPolicyDocument } from '../../activities/off-policy/slate';
import { renderReport, type ReportSubject } from '../../activities/report/report';
import { MODEL as FRAUD_MODEL } from '../../examples/fraud/generate';
import { retrainingWorkflowId } from '../../contracts/retraining';
import { cohortIdFor, type CohortSelector } from '../../contracts/cohort';
import type { HomepageTruth } from '../../examples/recommendations/homepage';
import type { RankingMetrics } from '../../stats/ranking-metrics';
import { SLATE_ESTIMATORS } from '../../stats/off-policy-slate';
import { FRAUD_DRIFT_WEEK, FRAUD_OUTAGE_WEEK, type ExampleData } from './examples';
import type { ReceivedCall } from './pipeline';
import type { RecalibrationRun } from './wait';

export interface SummaryRow {
  example: string;
  cohorts: number;
  headline: string;
  /** Firing alerts, counted by rule. */
  alerts: Record<string, number>;
  /** Diagnosis verdicts of the cohorts with a firing alert, counted. */
  diagnoses: Record<string, number>;
}

/**
 * The homepage ranking: the production ranking's metrics from its settled snapshot, and the new
 * ranker's clicks per session estimated as a slate and per position, with what reproduces them
 * (`hindsight evaluate` and `hindsight ope --slate` / `--by position` with these arguments).
 */
export interface HomepageSummary {
  cohort_id: string;
  cohort: CohortSelector;
  label_definition: string;
  /** The settled snapshot's moment: evaluate and ope read the logs as of it. */
  as_of: string;
  snapshot: { checkpoint: string; revision: number };
  reward: string[];
  target_policy: string;
  bootstrap: { resamples: number; seed: number; alpha: number };
  ranking: RankingMetrics | null;
  slate: Pick<
    SlateOffPolicyDocument,
    'estimators' | 'n_slates' | 'n_rows' | 'effective_sample_size' | 'max_weight' | 'logged_policy_value' | 'reliability_warnings'
  >;
  by_position: { positions: PositionEstimate[]; reliability_warnings: string[] };
  /** The simulation's expected clicks per session of the new ranker, in all and per position. */
  truth: Pick<HomepageTruth, 'target_policy_clicks' | 'target_policy_clicks_by_position'>;
}

export interface DemoSummary {
  rows: SummaryRow[];
  homepage: HomepageSummary | null;
  /** What the loop did about the alerts: retraining requests, recalibrations, notifications. */
  actions: string[];
  retraining_requests: Array<{ request_id: string; model_version: string; verdict: string | null; idempotency_key: string }>;
  recalibrations: Array<{ workflow_id: string; phase: string; reason: string | null }>;
  alert_notifications: number;
  reports: Array<{ what: string; path: string }>;
  links: Array<{ what: string; url: string }>;
  reportSubjects: Array<{ name: string; subject: ReportSubject }>;
  kept_running: boolean;
  /** The demo used a running `hindsight dev`'s services, which it leaves running. */
  reused_services: boolean;
}

interface SummaryInput {
  fraud: ExampleData;
  others: ExampleData[];
  live: string;
  scheduleId: string;
  recalibrations: RecalibrationRun[];
  pipeline: ReceivedCall[];
  link: (workflowId: string) => string;
  uiUrl: string | null;
  namespace: string;
}

type Overall = Record<string, number | null>;

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

const f3 = (value: number | null | undefined) => (value === null || value === undefined ? '—' : value.toFixed(3));
const f1 = (value: number | null | undefined) => (value === null || value === undefined ? '—' : value.toFixed(1));
/** The share of predictions with a label by then (final or provisional), as `label_availability` rules judge it. */
const labeledShare = (overall: Overall | null) => (overall && overall.n ? (overall.n_labeled ?? 0) / overall.n : null);
const interval = (value: { value: number | null; ci_low: number | null; ci_high: number | null }) =>
  `${f3(value.value)} [${f3(value.ci_low)}, ${f3(value.ci_high)}]`;
/** The demo's off-policy bootstrap: fewer resamples than `hindsight ope`'s 1000, for a quick demo. */
const DEMO_BOOTSTRAP = { resamples: 200, seed: 1, alpha: 0.05 };

/** The homepage ranking's numbers as of its settled snapshot (see {@link HomepageSummary}). */
async function summarizeHomepage(
  db: Knex,
  data: ExampleData,
  cohortId: string,
  settled: { checkpoint: string; revision: number; overall: Overall; as_of: string },
): Promise<HomepageSummary> {
  const cohort = data.cohorts.at(-1)!;
  const targetPolicy = path.join(data.dir, 'target-policy.ndjson');
  const common = {
    cohort,
    definition: data.definition,
    asOf: settled.as_of,
    rewardTypes: ['click'],
    rewardValue: false,
    target: { kind: 'file' as const, file: targetPolicy },
    ...DEMO_BOOTSTRAP,
  };
  const slate = await estimateSlateValue(db, { ...common, slate: { propensity: 'position', reward: 'sum' } });
  const positions = await estimatePolicyValue(db, { ...common, clip: null, byPosition: true });
  const truth = JSON.parse(await readFile(path.join(data.dir, 'truth.json'), 'utf8')) as HomepageTruth;
  return {
    cohort_id: cohortId,
    cohort,
    label_definition: `${data.definition.name}@${data.definition.version}`,
    as_of: settled.as_of,
    snapshot: { checkpoint: settled.checkpoint, revision: settled.revision },
    reward: common.rewardTypes,
    target_policy: targetPolicy,
    bootstrap: DEMO_BOOTSTRAP,
    ranking: (settled.overall.ranking as unknown as RankingMetrics | undefined) ?? null,
    slate: {
      estimators: slate.estimators,
      n_slates: slate.n_slates,
      n_rows: slate.n_rows,
      effective_sample_size: slate.effective_sample_size,
      max_weight: slate.max_weight,
      logged_policy_value: slate.logged_policy_value,
      reliability_warnings: slate.reliability_warnings,
    },
    by_position: { positions: positions.by_position ?? [], reliability_warnings: positions.reliability_warnings },
    truth: { target_policy_clicks: truth.target_policy_clicks, target_policy_clicks_by_position: truth.target_policy_clicks_by_position },
  };
}

/** The homepage ranking's block of the closing text. */
function formatHomepage(homepage: HomepageSummary): string[] {
  const r = homepage.ranking;
  const k = r?.k ?? '—';
  return [
    `The homepage ranking (${homepage.cohort_id}, as of ${homepage.as_of}, ${homepage.snapshot.checkpoint} r${homepage.snapshot.revision}):`,
    `  production ranking over ${r?.n_requests ?? 0} requests: NDCG@${k} ${f3(r?.ndcg)}, MRR ${f3(r?.mrr)}, hit rate@${k} ${f3(r?.hit_rate)}, ` +
      `precision@${k} ${f3(r?.precision)}, recall@${k} ${f3(r?.recall)}`,
    `  new ranker, clicks per session as a slate (truth ${f3(homepage.truth.target_policy_clicks)}, ` +
      `logged ${f3(homepage.slate.logged_policy_value)}, effective sample ${f1(homepage.slate.effective_sample_size)} of ${homepage.slate.n_slates} slates):`,
    `    ${SLATE_ESTIMATORS.map((name) => `${name.toUpperCase()} ${interval(homepage.slate.estimators[name])}`).join(', ')}`,
    '  new ranker per position (clicks per shown item):',
    ...homepage.by_position.positions.map(
      (part, i) =>
        `    position ${part.position ?? '—'}: truth ${f3(homepage.truth.target_policy_clicks_by_position[i])}, ` +
        `IPW ${interval(part.estimators.ipw)}, DR ${interval(part.estimators.dr)}, effective sample ${f1(part.effective_sample_size)} of ${part.n}`,
    ),
    ...[...homepage.slate.reliability_warnings, ...homepage.by_position.reliability_warnings].map((w) => `  warning: ${w}`),
  ];
}

/** Each cohort's latest snapshot per checkpoint, and how many revisions its final one has. */
async function snapshotsOf(
  db: Knex,
  cohortIds: string[],
): Promise<Map<string, Map<string, { revision: number; overall: Overall; as_of: string }>>> {
  const rows = await db('metric_snapshots')
    .whereIn('cohort_id', cohortIds)
    .orderBy(['cohort_id', 'checkpoint', 'revision'])
    .select('cohort_id', 'checkpoint', 'revision', 'as_of', db.raw("document->'overall' as overall"));
  const byCohort = new Map<string, Map<string, { revision: number; overall: Overall; as_of: string }>>();
  for (const row of rows) {
    const checkpoints = byCohort.get(row.cohort_id) ?? new Map();
    checkpoints.set(row.checkpoint, { revision: row.revision, overall: row.overall, as_of: new Date(row.as_of).toISOString() });
    byCohort.set(row.cohort_id, checkpoints);
  }
  return byCohort;
}

/** The firing alerts of some cohorts by rule, and the diagnosis verdicts they carry, one per cohort. */
async function alertsOf(db: Knex, cohortIds: string[]): Promise<{ alerts: Record<string, number>; diagnoses: Record<string, number> }> {
  const rows = await db('alerts')
    .whereIn('cohort_id', cohortIds)
    .where({ state: 'firing' })
    .orderBy('alert_id')
    .select('cohort_id', 'rule_name', db.raw("diagnosis->>'verdict' as verdict"));
  const verdicts = new Map<string, string>();
  for (const row of rows) {
    if (row.verdict) verdicts.set(row.cohort_id, row.verdict);
  }
  return { alerts: countBy(rows.map((row) => row.rule_name as string)), diagnoses: countBy([...verdicts.values()]) };
}

export async function summarizeDemo(db: Knex, input: SummaryInput): Promise<DemoSummary> {
  const { fraud } = input;
  const rows: SummaryRow[] = [];
  let homepage: HomepageSummary | null = null;
  const reportSubjects: DemoSummary['reportSubjects'] = [];
  const fraudIds = fraud.cohorts.map((c) => cohortIdFor(c, fraud.definition));
  const fraudSnapshots = await snapshotsOf(db, fraudIds);
  const at = (week: number, checkpoint: string) => fraudSnapshots.get(fraudIds[week]!)?.get(checkpoint)?.overall ?? null;
  const finals = fraudIds.map((id) => fraudSnapshots.get(id)?.get('final')).filter((s) => s !== undefined);
  const revised = finals.filter((s) => s.revision > 1).length;
  const fraudAlerts = await alertsOf(db, fraudIds);
  rows.push({
    example: 'fraud (weekly schedule)',
    cohorts: fraudIds.length,
    headline: [
      `drift week recall at P30D ${f3(at(FRAUD_DRIFT_WEEK, 'P30D')?.recall)} ` +
        `vs ${f3(at(FRAUD_DRIFT_WEEK - 1, 'P30D')?.recall)} the week before`,
      `outage week labeled by P30D ${f3(labeledShare(at(FRAUD_OUTAGE_WEEK, 'P30D')))} ` +
        `vs ${f3(labeledShare(at(FRAUD_OUTAGE_WEEK - 1, 'P30D')))}`,
      `${finals.length} weeks final, ${revised} revised by late chargebacks`,
    ].join('; '),
    ...fraudAlerts,
  });
  reportSubjects.push(
    {
      name: 'fraud model, weekly',
      subject: {
        kind: 'model',
        model_name: FRAUD_MODEL.model_name,
        model_version: FRAUD_MODEL.model_version,
        from: fraud.cohorts[0]!.start,
        to: fraud.cohorts.at(-1)!.end,
      },
    },
    { name: 'fraud drift week', subject: { kind: 'cohort', cohort_id: fraudIds[FRAUD_DRIFT_WEEK]! } },
    { name: 'fraud outage week', subject: { kind: 'cohort', cohort_id: fraudIds[FRAUD_OUTAGE_WEEK]! } },
  );

  for (const data of input.others) {
    const ids = data.cohorts.map((c) => cohortIdFor(c, data.definition));
    const snapshots = await snapshotsOf(db, ids);
    const last = data.cohorts.at(-1)!;
    const lastId = ids.at(-1)!;
    const final = snapshots.get(lastId)?.get('final');
    const asOf = final?.as_of ?? new Date().toISOString();
    let headline: string;
    if (data.name === 'recommendations') {
      const estimate = await estimatePolicyValue(db, {
        cohort: last,
        definition: data.definition,
        asOf,
        rewardTypes: ['click'],
        rewardValue: false,
        target: { kind: 'file', file: path.join(data.dir, 'target-policy.ndjson') },
        clip: null,
        resamples: 200,
        seed: 1,
        alpha: 0.05,
      });
      headline =
        `logged CTR ${f3(estimate.logged_policy_value)}; new ranker IPW ${interval(estimate.estimators.ipw)}, ` +
        `SNIPS ${interval(estimate.estimators.snips)}; purchase rate ${f3(final?.overall.base_rate)}`;
    } else if (data.name === 'homepage') {
      homepage = final ? await summarizeHomepage(db, data, lastId, { ...final, checkpoint: 'final' }) : null;
      const r = homepage?.ranking;
      headline = homepage
        ? `NDCG@${r?.k ?? '—'} ${f3(r?.ndcg)}, MRR ${f3(r?.mrr)}, hit rate ${f3(r?.hit_rate)}; new ranker clicks/session ` +
          `SIPS ${interval(homepage.slate.estimators.sips)}, IIPS ${interval(homepage.slate.estimators.iips)}, ` +
          `RIPS ${interval(homepage.slate.estimators.rips)}`
        : 'no final snapshot yet';
    } else if (data.name === 'credit') {
      const weighted = await evaluateCohort(db, last, data.definition, asOf, { propensityWeighted: true });
      const drift = await computeDrift(db, { model_name: last.model_name, reference: data.cohorts[0]!, current: last, features: [] });
      const score = drift.variables.find((v) => v.variable === 'score');
      const overall = weighted.overall as unknown as Overall;
      headline =
        `default rate approved-only ${f3(overall.base_rate)}, propensity-weighted ${interval(weighted.propensity_weighted!.base_rate)}; ` +
        `KS ${f3(overall.ks)}; score PSI ${f3(score?.psi)}`;
    } else {
      headline =
        `final return rate ${f3(final?.overall.base_rate)} (revision ${final?.revision ?? '—'}); ` +
        `ROC AUC ${f3(final?.overall.roc_auc)}; recall ${f3(final?.overall.recall)}`;
    }
    const alerts = await alertsOf(db, ids);
    rows.push({ example: data.name, cohorts: ids.length, headline, ...alerts });
    reportSubjects.push({ name: data.name, subject: { kind: 'cohort', cohort_id: lastId } });
  }

  const live = (await snapshotsOf(db, [input.live])).get(input.live);
  const liveFinal = live?.get('final');
  rows.push({
    example: 'live (one-minute window)',
    cohorts: 1,
    headline: liveFinal
      ? `final ROC AUC ${f3(liveFinal.overall.roc_auc)}, Brier ${f3(liveFinal.overall.brier)} (revision ${liveFinal.revision}); ` +
        `${[...(live?.keys() ?? [])].join(', ')}`
      : `${live?.size ?? 0} checkpoint(s) so far`,
    alerts: {},
    diagnoses: {},
  });
  reportSubjects.push({ name: 'live cohort', subject: { kind: 'cohort', cohort_id: input.live } });

  const actions: string[] = [];
  const retrainingRequests = input.pipeline
    .filter((call) => call.path === '/retrain')
    .map((call) => ({
      request_id: String(call.body.request_id),
      model_version: String(call.body.model_version),
      verdict: (call.body.evidence as { verdict?: string } | undefined)?.verdict ?? null,
      idempotency_key: call.idempotency_key,
    }));
  for (const request of retrainingRequests) {
    actions.push(
      `retraining requested: ${request.request_id} for ${FRAUD_MODEL.model_name} ${request.model_version}, ` +
        `diagnosis ${request.verdict ?? '—'}; ` +
        `the demo pipeline received it once (Idempotency-Key ${request.idempotency_key})`,
    );
  }
  const retrains = retrainingRequests;
  if (retrains.length === 0) actions.push('retraining: no request reached the demo pipeline');
  for (const run of input.recalibrations) {
    actions.push(
      `recalibration ${run.workflowId}: ${run.state.phase.replace(/_/g, ' ')}${run.state.reason ? `: ${run.state.reason}` : ''}`,
    );
  }
  if (input.recalibrations.length === 0) actions.push('recalibration: none started');
  const notifications = input.pipeline.filter((call) => call.path === '/alerts').length;
  actions.push(`alert notifications: ${notifications} delivered to the demo pipeline's /alerts webhook (one per alert change)`);

  const links: DemoSummary['links'] = [
    { what: 'the live cohort', url: input.link(input.live) },
    { what: 'the fraud drift week', url: input.link(fraudIds[FRAUD_DRIFT_WEEK]!) },
    { what: 'the fraud outage week', url: input.link(fraudIds[FRAUD_OUTAGE_WEEK]!) },
    { what: 'fraud retraining requests', url: input.link(retrainingWorkflowId(FRAUD_MODEL.model_name)) },
    ...input.recalibrations.map((run) => ({ what: 'fraud recalibration', url: input.link(run.workflowId) })),
  ];
  if (input.uiUrl)
    links.push({
      what: 'the weekly fraud schedule',
      url: `${input.uiUrl}/namespaces/${input.namespace}/schedules/${encodeURIComponent(input.scheduleId)}`,
    });
  return {
    rows,
    homepage,
    actions,
    reports: [],
    links,
    reportSubjects,
    kept_running: false,
    reused_services: false,
    retraining_requests: retrainingRequests,
    recalibrations: input.recalibrations.map((run) => ({ workflow_id: run.workflowId, phase: run.state.phase, reason: run.state.reason })),
    alert_notifications: notifications,
  };
}

/** One self-contained HTML report per subject, as `hindsight report` writes them. */
export async function writeReports(db: Knex, dir: string, subjects: DemoSummary['reportSubjects']): Promise<DemoSummary['reports']> {
  await mkdir(dir, { recursive: true });
  const files: DemoSummary['reports'] = [];
  for (const { name, subject } of subjects) {
    const report = await renderReport(db, subject, new Date().toISOString());
    const file = path.join(dir, `${report.slug}.html`);
    await writeFile(file, report.html, 'utf8');
    files.push({ what: name, path: file });
  }
  return files;
}

/** The closing table, then what the loop did, the reports and the Web UI links. */
export function formatSummary(summary: DemoSummary): string {
  const header = ['example', 'cohorts', 'alerts', 'diagnoses', 'headline metrics'];
  const counted = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([name, n]) => (n === 1 ? name : `${name} ×${n}`))
      .join(', ') || '—';
  const cells = summary.rows.map((row) => [row.example, String(row.cohorts), counted(row.alerts), counted(row.diagnoses), row.headline]);
  const widths = header.slice(0, 4).map((title, i) => Math.max(title.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => [...c.slice(0, 4).map((cell, i) => cell.padEnd(widths[i]!)), c[4]].join('  ');
  return [
    '',
    line(header),
    line(widths.map((w) => '─'.repeat(w)).concat('─'.repeat(16))),
    ...cells.map(line),
    '',
    ...(summary.homepage ? [...formatHomepage(summary.homepage), ''] : []),
    'What the loop did:',
    ...summary.actions.map((action) => `  ${action}`),
    '',
    'Reports (self-contained HTML, open in a browser):',
    ...summary.reports.map((report) => `  ${`${report.what}:`.padEnd(22)} ${report.path}`),
    '',
    'Web UI' +
      (summary.kept_running || summary.reused_services
        ? ''
        : ' (while the services run: `npx hindsight dev`, or `npx hindsight demo --keep-running`)') +
      ':',
    ...summary.links.map((link) => `  ${`${link.what}:`.padEnd(28)} ${link.url}`),
    '',
  ].join('\n');
}
