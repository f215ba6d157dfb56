import type { Knex } from 'knex';
import type { CohortRecord } from '../../contracts/cohort';
import type { CohortSelector } from '../../contracts/cohort';
import type { EvaluationDocument } from '../../contracts/evaluation';
import { getLabelDefinition } from './label-definitions';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { type LabelDefinition } from '../../contracts/label-definition';

/** Inserts the cohort row once; a second call with the same id must describe the same cohort. */
export async function registerCohort(db: Knex, record: CohortRecord): Promise<void> {
  await db('cohorts')
    .insert({
      cohort_id: record.cohort_id,
      model_name: record.model_name,
      model_version: record.model_version,
      environment: record.environment,
      start_ts: toUtcIso(record.start),
      end_ts: toUtcIso(record.end),
      label_definition_name: record.label_definition_name,
      label_definition_version: record.label_definition_version,
    })
    .onConflict('cohort_id')
    .ignore();
}

export class CohortNotFoundError extends Error {
  override readonly name = 'CohortNotFoundError';
}

/** A row of `cohorts` (or a query selecting its columns) as the record the activities pass around. */
export function cohortRecordFromRow(row: Record<string, any>): CohortRecord {
  return {
    cohort_id: row.cohort_id,
    model_name: row.model_name,
    model_version: row.model_version,
    environment: row.environment,
    start: toUtcIso(row.start_ts),
    end: toUtcIso(row.end_ts),
    label_definition_name: row.label_definition_name,
    label_definition_version: row.label_definition_version,
  };
}

export async function loadCohort(db: Knex, cohortId: string): Promise<{ record: CohortRecord; definition: LabelDefinition }> {
  const row = await db('cohorts').where({ cohort_id: cohortId }).first();
  if (!row) throw new CohortNotFoundError(`cohort ${cohortId} is not registered`);
  const record = cohortRecordFromRow(row);
  const definition = await getLabelDefinition(db, { name: record.label_definition_name, version: record.label_definition_version });
  return { record, definition };
}

/** `end + duration` computed by Postgres, so months and years follow the calendar. */
export async function addDurations(db: Knex, base: string, durations: string[]): Promise<string[]> {
  if (durations.length === 0) return [];
  const { rows } = await db.raw(
    `select to_char((:base::timestamptz + d::interval) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at
     from unnest(:durations::text[]) with ordinality as t(d, i) order by i`,
    { base: toUtcIso(base), durations },
  );
  return rows.map((row: { at: string }) => row.at);
}

export interface StoredSnapshot {
  snapshot_id: number;
  checkpoint: string;
  revision: number;
  as_of: string;
  created: boolean;
  document: EvaluationDocument;
}

/**
 * Stores a snapshot under its natural key. Snapshots are immutable: if the key exists
 * (an activity retry), the stored one is returned untouched.
 */
export async function storeSnapshot(
  db: Knex,
  record: CohortRecord,
  checkpoint: string,
  revision: number,
  document: EvaluationDocument,
): Promise<StoredSnapshot> {
  const key = {
    cohort_id: record.cohort_id,
    label_definition_name: record.label_definition_name,
    label_definition_version: record.label_definition_version,
    checkpoint,
    revision,
  };
  const inserted = await db('metric_snapshots')
    .insert({ ...key, as_of: document.as_of, label_fingerprint: document.label_fingerprint, document })
    .onConflict(['cohort_id', 'label_definition_name', 'label_definition_version', 'checkpoint', 'revision'])
    .ignore()
    .returning(['snapshot_id']);
  const row = await db('metric_snapshots').where(key).first('snapshot_id', 'as_of', 'document');
  return {
    snapshot_id: row.snapshot_id,
    checkpoint,
    revision,
    as_of: toUtcIso(row.as_of),
    created: inserted.length > 0,
    document: row.document,
  };
}

/** The late-label revision (revision 2 or later of `final`) stored as of exactly `asOf`, if any. */
export async function revisionAsOf(db: Knex, cohortId: string, asOf: string): Promise<StoredSnapshot | undefined> {
  const row = await db('metric_snapshots')
    .where({ cohort_id: cohortId, checkpoint: 'final' })
    .andWhere('revision', '>', 1)
    .andWhere('as_of', toUtcIso(asOf))
    .orderBy('revision', 'desc')
    .first('snapshot_id', 'revision', 'as_of', 'document');
  if (!row) return undefined;
  const snapshotId = Number(row.snapshot_id);
  return {
    snapshot_id: snapshotId,
    checkpoint: 'final',
    revision: row.revision,
    as_of: toUtcIso(row.as_of),
    created: false,
    document: row.document,
  };
}

export async function latestSnapshot(
  db: Knex,
  cohortId: string,
  checkpoint: string,
): Promise<{ revision: number; label_fingerprint: string } | undefined> {
  return db('metric_snapshots')
    .where({ cohort_id: cohortId, checkpoint })
    .orderBy('revision', 'desc')
    .first('revision', 'label_fingerprint');
}

export async function listSnapshots(
  db: Knex,
  cohortId: string,
): Promise<Array<{ snapshot_id: number; checkpoint: string; revision: number; as_of: Date; document: EvaluationDocument }>> {
  return db('metric_snapshots')
    .where({ cohort_id: cohortId })
    .orderBy('snapshot_id')
    .select('snapshot_id', 'checkpoint', 'revision', 'as_of', 'document');
}

export async function loadSnapshot(
  db: Knex,
  snapshotId: number,
): Promise<{ snapshot_id: number; document: EvaluationDocument } | undefined> {
  return db('metric_snapshots').where({ snapshot_id: snapshotId }).first('snapshot_id', 'document');
}
