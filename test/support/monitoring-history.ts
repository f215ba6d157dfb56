import { MockActivityEnvironment } from '@temporalio/testing';
import type { Knex } from 'knex';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { createLifecycleActivities } from '../../activities/temporal/lifecycle';
import type { CohortRecord } from '../../contracts/cohort';

/**
 * A model's history as the lifecycle leaves it, for /metrics and the dashboards: six weekly
 * cohorts of `fraud-watch` v1 in production, each evaluated by the lifecycle's own activities
 * at P7D and, for the five whose window has passed, at final; the fifth week's final revised
 * once by a late label. Then two firing alerts, a resolved one, and notifications in every
 * outbox state. Set-based inserts: 300 predictions a week, positives charged back a day after
 * the prediction and received 0 to 9 + 3 × week days later, so each week's labels are slower.
 */
export const HISTORY = {
  model: 'fraud-watch',
  version: 'v1',
  environment: 'production',
  definition: 'chargeback-30d',
  weeks: 6,
  finalized: 5,
  start: '2026-01-05T00:00:00.000Z',
} as const;

const DAY = 86_400_000;
const WEEK = 7 * DAY;

export interface SeededHistory {
  cohorts: CohortRecord[];
  /** The as-of of each cohort's P7D and final snapshots (final only for the finalized ones). */
  asOf: Array<{ p7d: string; final: string | null }>;
  /** The late label's revision of the last finalized cohort. */
  revisedAsOf: string;
}

export function weekCohort(week: number): CohortRecord {
  const start = Date.parse(HISTORY.start) + week * WEEK;
  return {
    cohort_id: `${HISTORY.model}-w${week}`,
    model_name: HISTORY.model,
    model_version: HISTORY.version,
    environment: HISTORY.environment,
    start: new Date(start).toISOString(),
    end: new Date(start + WEEK).toISOString(),
    label_definition_name: HISTORY.definition,
    label_definition_version: 1,
  };
}

async function storeWeek(db: Knex, cohort: CohortRecord, week: number): Promise<void> {
  for (const table of ['predictions', 'outcomes'])
    for (const month of ['2026-01-01', '2026-02-01', '2026-03-01'])
      await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', [table, month]);
  // Score i/300; a prediction is fraud when (37 i mod 100) < 100 × score, so the scores rank well but not perfectly.
  await db.raw(
    `insert into predictions (prediction_id, model_name, model_version, environment, ts_pred, score, content_hash)
     select md5(:cohort || i)::uuid, :model, :version, :environment,
            :start::timestamptz + i * interval '30 minutes', (i % 300 + 0.5) / 300.0, 'history'
     from generate_series(0, 299) as i`,
    { cohort: cohort.cohort_id, model: HISTORY.model, version: HISTORY.version, environment: HISTORY.environment, start: cohort.start },
  );
  await db.raw(
    `insert into outcomes (outcome_id, prediction_id, outcome_type, ts_event, ts_received, content_hash)
     select 'cb-' || :cohort || '-' || i, md5(:cohort || i)::uuid, 'chargeback',
            :start::timestamptz + i * interval '30 minutes' + interval '1 day',
            :start::timestamptz + i * interval '30 minutes' + interval '1 day' + (i % :spread) * interval '1 day', 'history'
     from generate_series(0, 299) as i
     where (37 * i) % 100 < 100 * (i + 0.5) / 300.0`,
    { cohort: cohort.cohort_id, start: cohort.start, spread: 10 + 3 * week },
  );
}

/** Seeds {@link HISTORY} into `db` through the lifecycle activities (a few seconds). */
export async function seedMonitoringHistory(db: Knex): Promise<SeededHistory> {
  await putLabelDefinition(db, {
    name: HISTORY.definition,
    version: 1,
    model_name: HISTORY.model,
    task: 'binary',
    window: 'P30D',
    checkpoints: ['P7D'],
    positive_outcome_types: ['chargeback'],
  });
  const activities = createLifecycleActivities(db);
  const env = new MockActivityEnvironment();
  const cohorts = Array.from({ length: HISTORY.weeks }, (_, week) => weekCohort(week));
  for (const [week, cohort] of cohorts.entries()) await storeWeek(db, cohort, week);
  await db.raw('analyze predictions; analyze outcomes');
  const asOf: SeededHistory['asOf'] = [];
  for (const [week, cohort] of cohorts.entries()) {
    const plan = await env.run(activities.planCohortLifecycle, { cohort });
    const p7d = plan.checkpoints[0]!.asOf;
    await env.run(activities.evaluateCheckpoint, { cohortId: cohort.cohort_id, checkpoint: 'P7D', asOf: p7d, revision: 1 });
    const final = week < HISTORY.finalized ? plan.finalAsOf : null;
    if (final) await env.run(activities.evaluateCheckpoint, { cohortId: cohort.cohort_id, checkpoint: 'final', asOf: final, revision: 1 });
    asOf.push({ p7d, final });
  }
  // A late chargeback on the last finalized week's second prediction (legitimate until then): revision 2.
  const last = cohorts[HISTORY.finalized - 1]!;
  const finalAsOf = Date.parse(asOf[HISTORY.finalized - 1]!.final!);
  await db('outcomes').insert({
    outcome_id: 'late-chargeback',
    prediction_id: (await db.raw(`select md5(? || 1)::uuid as id`, [last.cohort_id])).rows[0].id,
    outcome_type: 'chargeback',
    ts_event: new Date(Date.parse(last.start) + DAY).toISOString(),
    ts_received: new Date(finalAsOf + 2 * DAY).toISOString(),
    content_hash: 'late',
  });
  const revisedAsOf = new Date(finalAsOf + 3 * DAY).toISOString();
  const revised = await env.run(activities.reviseFinalSnapshot, { cohortId: last.cohort_id, asOf: revisedAsOf });
  if (revised?.revision !== 2) throw new Error('the late label did not revise the final snapshot');
  await seedAlerts(db, cohorts);
  return { cohorts, asOf, revisedAsOf };
}

async function seedAlerts(db: Knex, cohorts: CohortRecord[]): Promise<void> {
  await db('monitoring_policies').insert({
    name: 'fraud-watch-policy',
    version: 1,
    model_name: HISTORY.model,
    policy: {},
    content_hash: 'history',
  });
  const alert = (rule: string, kind: string, severity: string, state: string, week: number, verdict: string | null) => ({
    dedup_key: `${rule}-${week}`,
    policy_name: 'fraud-watch-policy',
    policy_version: 1,
    rule_name: rule,
    rule_kind: kind,
    model_name: HISTORY.model,
    model_version: HISTORY.version,
    cohort_id: cohorts[week]!.cohort_id,
    checkpoint: 'P7D',
    revision: 1,
    severity,
    state,
    metric: kind === 'label_availability' ? 'label_availability' : 'recall',
    observed: 0.4,
    baseline: 0.6,
    diagnosis: verdict === null ? null : { verdict },
    runbook: 'docs/alerts.md',
    fired_at: new Date(Date.parse(cohorts[week]!.end) + 7 * DAY).toISOString(),
    updated_at: new Date(Date.parse(cohorts[week]!.end) + 7 * DAY).toISOString(),
    cleared_at: state === 'firing' ? null : new Date(Date.parse(cohorts[week]!.end) + 9 * DAY).toISOString(),
  });
  const ids = await db('alerts')
    .insert([
      alert('recall-drop', 'relative_drop', 'critical', 'firing', 5, 'quality'),
      alert('labels-on-time', 'label_availability', 'warning', 'firing', 4, null),
      alert('recall-drop', 'relative_drop', 'critical', 'resolved', 3, 'labeling'),
    ])
    .returning('alert_id');
  const alertId = (ids[0] as { alert_id: number }).alert_id;
  const notification = (key: string, state: string) => ({
    idempotency_key: key,
    alert_id: alertId,
    transition: 'firing',
    url: 'http://127.0.0.1:9/hook',
    payload: {},
    destination: 'webhook/0123456789abcdef',
    state,
  });
  await db('alert_notifications').insert([
    notification('n1', 'delivered'),
    notification('n2', 'delivered'),
    notification('n3', 'pending'),
    notification('n4', 'refused'),
    notification('n5', 'expired'),
  ]);
}
