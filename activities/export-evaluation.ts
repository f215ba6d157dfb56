import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Knex } from 'knex';
import { EXPORT_COLUMNS, EXPORT_ROWS } from '../sql/export-evaluation';
import { CREATE_MATCHES, joinBindingsFor, type JoinCohort } from '../sql/join-outcomes';
import type { LabelDefinition } from './label-definitions';

export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportEvaluationInput {
  cohort: JoinCohort;
  definition: LabelDefinition;
  asOf: string;
  out: string;
  format: ExportFormat;
}

export interface ExportEvaluationResult {
  file: string;
  format: ExportFormat;
  rows: number;
  as_of: string;
}

type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], unknown>;

/** Timestamps as UTC ISO-8601 and objects as JSON text, so CSV and NDJSON say the same thing. */
function normalize(row: ExportRow): ExportRow {
  const out = {} as ExportRow;
  for (const column of EXPORT_COLUMNS) {
    const value = row[column];
    out[column] = value instanceof Date ? value.toISOString() : value ?? null;
  }
  return out;
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Writes the joined evaluation dataset of a cohort as of a moment, one line per prediction.
 * Rows stream from a server-side cursor straight to the file (with backpressure), so memory
 * stays constant however large the cohort; the join runs in one REPEATABLE READ snapshot,
 * like the evaluation, so the file agrees with `evaluate` at the same as-of.
 */
export async function exportEvaluation(db: Knex, input: ExportEvaluationInput): Promise<ExportEvaluationResult> {
  const bindings = joinBindingsFor(input.cohort, input.definition, input.asOf);
  const file = createWriteStream(input.out, 'utf8');
  const write = async (text: string) => {
    if (!file.write(text)) await once(file, 'drain');
  };
  let rows = 0;
  try {
    await db.transaction(
      async (trx) => {
        await trx.raw(CREATE_MATCHES, bindings);
        if (input.format === 'csv') await write(`${EXPORT_COLUMNS.join(',')}\n`);
        // A cursor fetching 1,000 rows at a time: few round trips, bounded memory.
        const stream = trx.raw(EXPORT_ROWS, bindings).stream({ batchSize: 1000, highWaterMark: 1000 });
        for await (const raw of stream as AsyncIterable<ExportRow>) {
          const row = normalize(raw);
          await write(input.format === 'csv' ? `${EXPORT_COLUMNS.map((column) => csvField(row[column])).join(',')}\n` : `${JSON.stringify(row)}\n`);
          rows += 1;
        }
      },
      { isolationLevel: 'repeatable read' },
    );
  } finally {
    file.end();
    await once(file, 'close');
  }
  return { file: input.out, format: input.format, rows, as_of: bindings.as_of };
}
