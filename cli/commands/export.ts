import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { EXPORT_FORMATS, exportEvaluation } from '../../activities/export-evaluation';
import { timestampSchema } from '../../activities/ingest/record-schemas';
import { getLabelDefinitionForModel, parseLabelDefinitionRef } from '../../activities/label-definitions';
import { withDatabase } from '../context';
import { addCohortOptions, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT } from '../output';

const exportOptionsSchema = z.intersection(
  cohortOptionsSchema,
  z.object({ asOf: timestampSchema, out: z.string().min(1), format: z.enum(EXPORT_FORMATS).optional() }),
);

export function registerExport(program: Command, setExit: (code: number) => void): void {
  addCohortOptions(
    program.command('export')
      .description('write the joined evaluation dataset of a cohort as of a moment: one row per prediction with its label, label status, deciding outcome and join path'), { asOf: true })
    .requiredOption('--out <file>', 'file to write')
    .option('--format <format>', 'csv or ndjson (default: from the file extension, else csv)')
    .option('--json', 'print a JSON summary')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(exportOptionsSchema, raw, 'export');
      const out = createOutput(Boolean(options.json));
      const format = options.format ?? (/\.(nd)?jsonl?$/i.test(options.out) ? 'ndjson' : 'csv');
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
