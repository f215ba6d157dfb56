import { constants, createWriteStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { EXPORT_COLUMNS, copyCsv, copyNdjson, exportRows, ndjsonLines } from '../../sql/export-evaluation';
import { CREATE_MATCHES, joinBindingsFor, type EvaluationBindings, type JoinCohort } from '../../sql/join-outcomes';
import { withLiteralBindings } from '../../sql/literal-bindings';
import { writeParquet } from './export-parquet';
import type { LabelDefinition } from '../../contracts/label-definition';

/** The sort into export order of about a million rows (~250 bytes each) stays in memory; larger exports sort on disk (docs/metrics.md). */
const EXPORT_WORK_MEM = '256MB';

export const EXPORT_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
type TextFormat = Exclude<ExportFormat, 'parquet'>;

export interface ExportEvaluationInput {
  cohort: JoinCohort;
  definition: LabelDefinition;
  asOf: string;
  out: string;
  format: ExportFormat;
  /**
   * How CSV and NDJSON rows leave the database: `copy` (COPY … TO STDOUT) unless the server
   * is the embedded PGlite, which cannot stream COPY and gets the same bytes `rows` by row.
   * Parquet always reads a cursor (./export-parquet).
   */
  transport?: 'copy' | 'rows';
}

export interface ExportEvaluationResult {
  file: string;
  format: ExportFormat;
  rows: number;
  as_of: string;
}

/** An output path the export cannot write; said before any transaction opens. */
export class ExportPathError extends Error {
  override readonly name = 'ExportPathError';
}

/**
 * Why `out` cannot be written (a missing or unwritable directory, a directory given as the
 * file, a file that is not writable), or undefined. Checked before the export's transaction
 * opens, so a bad path never leaves one open.
 */
export async function exportPathProblem(out: string): Promise<string | undefined> {
  const found = await stat(out).catch(() => undefined);
  if (found?.isDirectory()) return `${out} is a directory; give a file name`;
  if (found)
    return access(out, constants.W_OK).then(
      () => undefined,
      () => `${out} exists and is not writable`,
    );
  const dir = path.dirname(out);
  const parent = await stat(dir).catch(() => undefined);
  if (!parent) return `the directory ${dir} does not exist`;
  if (!parent.isDirectory()) return `${dir} is not a directory`;
  return access(dir, constants.W_OK | constants.X_OK).then(
    () => undefined,
    () => `the directory ${dir} is not writable`,
  );
}

/**
 * Writes the joined evaluation dataset of a cohort as of a moment, one row per prediction.
 * The join runs in one REPEATABLE READ snapshot, like the evaluation, so the file agrees with
 * `evaluate` at the same as-of. For CSV and NDJSON PostgreSQL then writes the file's bytes
 * itself (`COPY … TO STDOUT`, streamed to the file with backpressure), so memory stays
 * constant however large the cohort and the rows leave at the database's speed; Parquet is
 * written a row group at a time (./export-parquet).
 */
export async function exportEvaluation(db: Knex, input: ExportEvaluationInput): Promise<ExportEvaluationResult> {
  const problem = await exportPathProblem(input.out);
  if (problem) throw new ExportPathError(`export: --out ${input.out}: ${problem}`);
  const bindings = joinBindingsFor(input.cohort, input.definition, input.asOf);
  let rows = 0;
  await db.transaction(
    async (trx) => {
      // As for the evaluation: the join's hashes and the export's sort stay in memory.
      await trx.raw(`set local work_mem = '${EXPORT_WORK_MEM}'`);
      await trx.raw('set local jit = off');
      await trx.raw(CREATE_MATCHES, bindings);
      const { format } = input;
      rows = format === 'parquet' ? await writeParquet(trx, bindings, input.out) : await writeText(trx, bindings, { ...input, format });
    },
    { isolationLevel: 'repeatable read' },
  );
  return { file: input.out, format: input.format, rows, as_of: bindings.as_of };
}

/** CSV or NDJSON through COPY, or row by row where the server cannot stream COPY. */
async function writeText(
  trx: Knex.Transaction,
  bindings: EvaluationBindings,
  input: ExportEvaluationInput & { format: TextFormat },
): Promise<number> {
  const file = createWriteStream(input.out, 'utf8');
  try {
    const connection = (await trx.client.acquireConnection()) as pg.Client;
    const version = (await connection.query<{ version: string }>('select version()')).rows[0]!.version;
    const transport = input.transport ?? (/PGlite/.test(version) ? 'rows' : 'copy');
    if (transport === 'rows') return await writeRowByRow(trx, input.format, bindings, file);
    // COPY takes no parameters: the values go in as literals (../sql/literal-bindings).
    const query = withLiteralBindings(trx, exportRows(), { ...bindings });
    const copy = connection.query(copyTo(input.format === 'csv' ? copyCsv(query) : copyNdjson(query)));
    await pipeline(copy, file, { end: false });
    return copy.rowCount;
  } finally {
    // A file that failed (its directory went away) is closed already: waiting for 'close' would hang.
    if (!file.destroyed) {
      file.end();
      await once(file, 'close');
    }
  }
}

/** PostgreSQL's CSV quoting: a field holding a comma, quote or line break, or an empty string, is quoted. */
function csvField(value: string | null): string {
  if (value === null) return '';
  return value === '' || /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The bytes COPY would write, from a cursor of 1,000 rows at a time. */
async function writeRowByRow(
  trx: Knex.Transaction,
  format: TextFormat,
  bindings: EvaluationBindings,
  file: NodeJS.WritableStream,
): Promise<number> {
  const write = async (text: string) => {
    if (!file.write(text)) await once(file, 'drain');
  };
  let rows = 0;
  if (format === 'csv') await write(`${EXPORT_COLUMNS.join(',')}\n`);
  const stream = trx
    .raw(format === 'csv' ? exportRows('text') : ndjsonLines(exportRows()), { ...bindings })
    .stream({ batchSize: 1000, highWaterMark: 1000 });
  for await (const row of stream as AsyncIterable<Record<string, string | null>>) {
    await write(format === 'csv' ? `${EXPORT_COLUMNS.map((column) => csvField(row[column]!)).join(',')}\n` : `${row.line}\n`);
    rows += 1;
  }
  return rows;
}
