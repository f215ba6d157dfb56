/**
 * The export as Parquet, the format pandas and Spark load fastest: the same columns, in the
 * same order, as the CSV export, each typed as PostgreSQL types it (../sql/export-evaluation,
 * EXPORT_COLUMN_KINDS). Rows come from a cursor and leave in row groups of
 * {@link PARQUET_ROW_GROUP_ROWS}, so memory holds one row group however large the cohort.
 */
import type { Knex } from 'knex';
import type { SchemaElement } from 'hyparquet' with { 'resolution-mode': 'import' };
import { EXPORT_COLUMNS, EXPORT_COLUMN_KINDS, exportRows, type ExportColumn } from '../../sql/export-evaluation';
import type { EvaluationBindings } from '../../sql/join-outcomes';

/**
 * Rows per row group: readers decode (and Spark splits work) a row group at a time, so
 * large groups read fastest (100k is also hyparquet-writer's own default). The writer holds
 * one group's values and their encoding at a time: bench:export reports the peak RSS.
 */
export const PARQUET_ROW_GROUP_ROWS = 100_000;

/** Rows per cursor fetch: few round trips, a small share of a row group. */
const FETCH_ROWS = 10_000;

/**
 * Every column is nullable (OPTIONAL), as in the CSV; text as UTF-8 strings, jsonb as its
 * exact text under the JSON logical type, timestamps as UTC milliseconds.
 */
const PARQUET_TYPES: Record<(typeof EXPORT_COLUMN_KINDS)[ExportColumn], Omit<SchemaElement, 'name'>> = {
  text: { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  json: { type: 'BYTE_ARRAY', logical_type: { type: 'JSON' }, repetition_type: 'OPTIONAL' },
  float8: { type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  timestamp: {
    type: 'INT64',
    converted_type: 'TIMESTAMP_MILLIS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    repetition_type: 'OPTIONAL',
  },
};

export const PARQUET_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: EXPORT_COLUMNS.length },
  ...EXPORT_COLUMNS.map((name) => ({ name, ...PARQUET_TYPES[EXPORT_COLUMN_KINDS[name]] })),
];

type ParquetValue = string | number | null;

/** Writes the export's rows (hs_matches must exist in `trx`) to `out` as Parquet; returns the row count. */
export async function writeParquet(trx: Knex.Transaction, bindings: EvaluationBindings, out: string): Promise<number> {
  // hyparquet-writer is an ES module; this package compiles to CommonJS.
  const { ParquetWriter, fileWriter } = await import('hyparquet-writer');
  const writer = new ParquetWriter({ writer: fileWriter(out), schema: PARQUET_SCHEMA, createdBy: 'hindsight export' });
  const emptyGroup = () => EXPORT_COLUMNS.map((): ParquetValue[] => []);
  let group = emptyGroup();
  let rows = 0;
  const flush = async () => {
    // int8 epoch milliseconds arrive as decimal text; the writer reads them as BigInt.
    await writer.write({ columnData: EXPORT_COLUMNS.map((name, i) => ({ name, data: group[i]! })), rowGroupSize: PARQUET_ROW_GROUP_ROWS });
    group = emptyGroup();
  };
  const stream = trx.raw(exportRows('parquet'), { ...bindings }).stream({ batchSize: FETCH_ROWS, highWaterMark: FETCH_ROWS });
  for await (const row of stream as AsyncIterable<Record<ExportColumn, ParquetValue>>) {
    for (let i = 0; i < EXPORT_COLUMNS.length; i++) group[i]!.push(row[EXPORT_COLUMNS[i]!]);
    rows += 1;
    if (group[0]!.length === PARQUET_ROW_GROUP_ROWS) await flush();
  }
  if (group[0]!.length > 0) await flush();
  await writer.finish();
  return rows;
}
