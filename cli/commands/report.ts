import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { CohortNotFoundError } from '../../activities/evaluate/cohorts';
import { timestampSchema } from '../../contracts/records';
import { renderReport, ReportInputError, type ReportSubject } from '../../activities/report/report';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';

const reportOptionsSchema = z.object({
  cohort: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
  from: timestampSchema.optional(),
  to: timestampSchema.optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

function subjectFrom(options: z.output<typeof reportOptionsSchema>): ReportSubject {
  const modelFlags = [options.model, options.version, options.from, options.to];
  if (options.cohort !== undefined) {
    if (modelFlags.some((flag) => flag !== undefined))
      throw new UsageError('report: give either --cohort ID or --model, --version, --from and --to, not both');
    return { kind: 'cohort', cohort_id: options.cohort };
  }
  if (modelFlags.some((flag) => flag === undefined))
    throw new UsageError('report: give --cohort ID, or all of --model, --version, --from and --to');
  if (!(options.from! < options.to!)) throw new UsageError('report: --from must be before --to');
  return { kind: 'model', model_name: options.model!, model_version: options.version!, from: options.from!, to: options.to! };
}

export function registerReport(program: Command, setExit: (code: number) => void): void {
  program
    .command('report')
    .description('one self-contained HTML report (charts inline, nothing fetched) of a cohort, or of a model version over a period')
    .option('--cohort <id>', 'the cohort to report on')
    .option('--model <name>', 'model name (with --version, --from, --to)')
    .option('--version <version>', 'model version')
    .option('--from <iso>', 'period start (inclusive), with offset: cohorts starting from then')
    .option('--to <iso>', 'period end (exclusive), with offset: cohorts ending by then')
    .option('--out <file>', 'where to write the HTML (default: report-<slug>.html in the current directory)')
    .option('--json', 'print one JSON document: {"path", "sections"}')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(reportOptionsSchema, raw, 'report');
      const subject = subjectFrom(options);
      const out = createOutput(Boolean(options.json));
      const report = await withDatabase(async (db) => {
        try {
          return await renderReport(db, subject, new Date().toISOString());
        } catch (error) {
          if (error instanceof ReportInputError || error instanceof CohortNotFoundError) throw new UsageError(`report: ${error.message}`);
          throw error;
        }
      });
      const file = path.resolve(options.out ?? `report-${report.slug}.html`);
      await writeFile(file, report.html, 'utf8');
      out.result({ path: file, sections: report.sections }, () => file);
      setExit(EXIT.ok);
    });
}
