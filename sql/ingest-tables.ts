import type { RecordKind } from '../contracts/records';

/** Postgres types of the columns the ingest path writes; the staging tables mirror them. */
export type IngestColumnType = 'uuid' | 'text' | 'integer' | 'double precision' | 'boolean' | 'jsonb' | 'timestamptz';

/**
 * Where one record kind lands: its table, the columns ingest writes (in COPY order), the
 * identity columns, the table whose unique key claims an identity (a small key table for
 * the partitioned tables, see sql/migrations/001_core.sql) and the month-partition column.
 */
export interface IngestTable {
  table: string;
  columns: ReadonlyArray<readonly [name: string, type: IngestColumnType]>;
  key: readonly string[];
  keyTable: { table: string; columns: readonly string[] } | null;
  partitionColumn: string | null;
}

export const INGEST_TABLES = {
  predictions: {
    table: 'predictions',
    columns: [
      ['prediction_id', 'uuid'],
      ['model_name', 'text'],
      ['model_version', 'text'],
      ['feature_view_version', 'text'],
      ['input_schema_hash', 'text'],
      ['schema_version', 'integer'],
      ['entity_ids', 'jsonb'],
      ['ts_pred', 'timestamptz'],
      ['score', 'double precision'],
      ['threshold', 'double precision'],
      ['decision', 'text'],
      ['action', 'text'],
      ['policy', 'text'],
      ['propensity', 'double precision'],
      ['is_exploration', 'boolean'],
      ['request_id', 'text'],
      ['session_id', 'text'],
      ['position', 'integer'],
      ['item_id', 'text'],
      ['environment', 'text'],
      ['region', 'text'],
      ['segment', 'jsonb'],
      ['features', 'jsonb'],
      ['extra', 'jsonb'],
      ['content_hash', 'text'],
    ],
    key: ['prediction_id'],
    keyTable: { table: 'prediction_keys', columns: ['prediction_id', 'ts_pred', 'content_hash'] },
    partitionColumn: 'ts_pred',
  },
  outcomes: {
    table: 'outcomes',
    columns: [
      ['outcome_id', 'text'],
      ['prediction_id', 'uuid'],
      ['entity_ids', 'jsonb'],
      ['request_id', 'text'],
      ['item_id', 'text'],
      ['position', 'integer'],
      ['outcome_type', 'text'],
      ['value', 'double precision'],
      ['ts_event', 'timestamptz'],
      ['ts_received', 'timestamptz'],
      ['source', 'text'],
      ['schema_version', 'integer'],
      ['extra', 'jsonb'],
      ['content_hash', 'text'],
    ],
    key: ['outcome_id'],
    keyTable: { table: 'outcome_keys', columns: ['outcome_id', 'ts_event', 'content_hash'] },
    partitionColumn: 'ts_event',
  },
  actions: {
    table: 'actions',
    columns: [
      ['prediction_id', 'uuid'],
      ['action', 'text'],
      ['ts_action', 'timestamptz'],
      ['policy', 'text'],
      ['propensity', 'double precision'],
      ['schema_version', 'integer'],
      ['extra', 'jsonb'],
      ['content_hash', 'text'],
    ],
    key: ['prediction_id', 'action', 'ts_action'],
    keyTable: null,
    partitionColumn: null,
  },
} as const satisfies Record<RecordKind, IngestTable>;

/** Quotes an identifier; every identifier here is a constant of this file, never input. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
