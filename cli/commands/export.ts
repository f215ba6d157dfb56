import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { EXPORT_FORMATS, exportEvaluation, exportPathProblem, type ExportFormat } from '../../activities/evaluate/export-evaluation';
import { timestampSchema } from '../../contracts/records';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { withDatabase } from '../context';
import { addCohortOptions, checkAsOf, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

const exportOptionsSchema = z.intersection(
  cohortOptionsSchema,
  z.object({ asOf: timestampSchema, out: z.string().min(1), format: z.enum(EXPORT_FORMATS).optional() }),
);

function formatFromExtension(file: string): ExportFormat {
  if (/\.(nd)?jsonl?$/i.test(file)) return 'ndjson';
  return /\.parquet$/i.test(file) ? 'parquet' : 'csv';
}

export function registerExport(program: Command, setExit: (code: number) => void): void {
  addCohortOptions(
    program
      .command('export')
      .description(
        'write the joined evaluation dataset of a cohort as of a moment: ' +
          'one row per prediction with its label, label status, deciding outcome and join path ' +
          '(CSV or NDJSON streamed through COPY, or Parquet in row groups of 100k rows)',
      ),
    { asOf: true },
  )
    .requiredOption('--out <file>', 'file to write')
    .option('--format <format>', 'csv, ndjson or parquet (default: from the file extension, .ndjson/.jsonl/.json or .parquet, else csv)')
    .option('--json', 'print a JSON summary')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(exportOptionsSchema, raw, 'export');
      const out = createOutput(Boolean(options.json));
      const format = options.format ?? formatFromExtension(options.out);
      checkAsOf('export', { start: options.from, end: options.to }, options.asOf, out.info);
      // Before the database: a path that cannot be written must not hold a transaction open.
      const problem = await exportPathProblem(path.resolve(options.out));
      if (problem) throw new UsageError(`export: --out ${options.out}: ${problem}`);
      const result = await withDatabase(async (db) => {
        const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), options.model);
        return exportEvaluation(db, {
          cohort: cohortSelectorFrom(options),
          definition,
          asOf: options.asOf,
          out: path.resolve(options.out),
          format,
        });
      });
      out.result(result, () => `wrote ${result.rows} predictions as of ${result.as_of} to ${result.file} (${result.format})`);
      setExit(EXIT.ok);
    });
}
