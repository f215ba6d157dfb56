import type { Knex } from 'knex';
import { registerCohort, storeSnapshot, type StoredSnapshot } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { applyMonitoringPolicy } from '../../activities/monitoring/apply-policy';
import { defaultMonitoringDependencies } from '../../activities/monitoring/dependencies';
import { putPolicy } from '../../activities/monitoring/policy';
import { type LabelDefinition } from '../../contracts/label-definition';
import { type CohortRecord } from '../../contracts/cohort';

export const MODEL = 'fraud-report';
const DAY = 86400_000;
const WEEK = 7 * DAY;
const T0 = Date.parse('2026-06-01T00:00:00Z');
/** Predictions per region and week. */
const PER_REGION = 2500;

export interface FraudCohorts {
  definition: LabelDefinition;
  /** The week before: finalized, the history of the expected curve and the reference of PSI. */
  previous: CohortRecord;
  /** The reported cohort: P1D and P7D checkpoints, final, and a revision for late chargebacks. */
  cohort: CohortRecord;
  snapshots: StoredSnapshot[];
}

const at = (ms: number) => new Date(ms).toISOString();

/**
 * One week of a card-fraud gate in two regions: scores spread over [0, 1), chargebacks with
 * a probability that grows with the score (more in `south` from week 1, so its recall falls),
 * arriving 1 to 20 days after the prediction, a few of them received only after the window
 * closed. Decisions block at 0.5, except a 10% exploration band logged with propensity 0.5.
 * Set-based inserts: tens of thousands of rows one by one would be most of the test.
 */
async function storeWeek(db: Knex, week: number): Promise<{ start: string; end: string }> {
  const start = T0 + week * WEEK;
  for (const month of ['2026-06-01', '2026-07-01', '2026-08-01']) {
    await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', ['predictions', month]);
    await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', ['outcomes', month]);
  }
  for (const [r, region] of ['north', 'south'].entries()) {
    await db.raw(
      `with rows as (
         select i, ((i * 7919 + :salt) % 1000) / 1000.0 as score, (i % 10 = 0) as explore, ((i * 31) % 2 = 0) as coin
         from generate_series(0, :n - 1) as i
       )
       insert into predictions (prediction_id, model_name, model_version, environment, region, ts_pred, score, threshold,
                                action, propensity, is_exploration, content_hash)
       select gen_random_uuid(), :model, 'v1', 'production', :region,
              :start::timestamptz + (i::bigint * (:week_ms::bigint - 1000) / :n) * interval '1 millisecond',
              score, 0.5,
              case when explore then (case when coin then 'block' else 'approve' end) when score >= 0.5 then 'block' else 'approve' end,
              case when explore then 0.5 else 1 end, explore, 'report-test'
       from rows`,
      { model: MODEL, region, start: at(start), week_ms: WEEK, n: PER_REGION, salt: 13 * week + 101 * r },
    );
  }
  // Positive with probability score^1.5 (south from week 1: low scores charge back too).
  await db.raw(
    `insert into outcomes (outcome_id, prediction_id, outcome_type, ts_event, ts_received, content_hash)
     select 'cb-' || prediction_id, prediction_id, 'chargeback', ts_pred + delay, ts_pred + delay + received_late, 'report-test'
     from (
       select prediction_id, ts_pred, score, region,
              (abs(hashtext(prediction_id::text)) % 1000) / 1000.0 as u,
              (1 + abs(hashtext('d' || prediction_id::text)) % 20) * interval '1 day' as delay,
              case when abs(hashtext('l' || prediction_id::text)) % 25 = 0 then interval '40 days' else interval '0' end as received_late
       from predictions
       where model_name = :model and ts_pred >= :start::timestamptz and ts_pred < :end::timestamptz
     ) p
     where u < power(score, 1.5) or (:drift and region = 'south' and u < 0.25)`,
    { model: MODEL, start: at(start), end: at(start + WEEK), drift: week >= 1 },
  );
  // Fresh statistics, as autovacuum would give a real table: the join plans by them.
  await db.raw('analyze predictions; analyze outcomes');
  return { start: at(start), end: at(start + WEEK) };
}

async function snapshot(
  db: Knex,
  record: CohortRecord,
  definition: LabelDefinition,
  checkpoint: string,
  revision: number,
  afterEndMs: number,
): Promise<StoredSnapshot> {
  const document = await evaluateCohort(db, record, definition, at(Date.parse(record.end) + afterEndMs));
  return storeSnapshot(db, record, checkpoint, revision, document);
}

/** The fraud cohorts a report is drawn from, through the evaluation, snapshot and monitoring code the lifecycle runs. */
export async function storeFraudCohorts(db: Knex): Promise<FraudCohorts> {
  const { definition } = await putLabelDefinition(db, {
    name: 'fraud-report-chargeback',
    version: 1,
    model_name: MODEL,
    task: 'binary',
    window: 'P30D',
    checkpoints: ['P1D', 'P7D'],
    positive_outcome_types: ['chargeback'],
    absent_means: 'negative',
    late_label_grace: 'P30D',
    slices: ['region'],
  });
  await putPolicy(db, {
    name: 'fraud-report-policy',
    version: 1,
    model_name: MODEL,
    label_definition: definition.name,
    rules: [
      {
        name: 'recall-floor',
        kind: 'floor',
        metric: 'recall',
        min: 0.8,
        slices: ['region'],
        min_slice_size: 100,
        checkpoints: ['final'],
        severity: 'critical',
      },
    ],
  });
  const cohortOf = (id: string, period: { start: string; end: string }): CohortRecord => ({
    cohort_id: id,
    model_name: MODEL,
    model_version: 'v1',
    environment: 'production',
    ...period,
    label_definition_name: definition.name,
    label_definition_version: definition.version,
  });
  const previous = cohortOf('fraud-report-week-0', await storeWeek(db, 0));
  const cohort = cohortOf('fraud-report-week-1', await storeWeek(db, 1));
  await registerCohort(db, previous);
  await registerCohort(db, cohort);
  await snapshot(db, previous, definition, 'final', 1, 60 * DAY);

  const snapshots = [
    await snapshot(db, cohort, definition, 'P1D', 1, DAY),
    await snapshot(db, cohort, definition, 'P7D', 1, 7 * DAY),
    await snapshot(db, cohort, definition, 'final', 1, 30 * DAY),
    await snapshot(db, cohort, definition, 'final', 2, 60 * DAY),
  ];
  for (const s of snapshots.slice(2))
    await applyMonitoringPolicy(db, defaultMonitoringDependencies, { cohortId: cohort.cohort_id, snapshotId: s.snapshot_id });
  return { definition, previous, cohort, snapshots };
}
