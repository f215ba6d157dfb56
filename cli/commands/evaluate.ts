import type { Command } from 'commander';
import { z } from 'zod';
import { evaluateCohort } from '../../activities/evaluate-cohort';
import { timestampSchema } from '../../activities/ingest/record-schemas';
import { getLabelDefinition, parseLabelDefinitionRef } from '../../activities/label-definitions';
import { withDatabase } from '../context';
import { cohortOptionsSchema, parseOptions } from '../options';
import { createOutput, EXIT } from '../output';

const evaluateOptionsSchema = z.intersection(cohortOptionsSchema, z.object({ asOf: timestampSchema }));

function formatNumber(value: unknown): string {
  return typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(4)) : value === null ? '—' : String(value);
}

export function registerEvaluate(program: Command, setExit: (code: number) => void): void {
  program
    .command('evaluate')
    .description('evaluate one cohort under a label definition as of a moment')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version')
    .option('--environment <env>', 'only predictions from this environment')
    .requiredOption('--from <iso>', 'cohort start (inclusive), with offset')
    .requiredOption('--to <iso>', 'cohort end (exclusive), with offset')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION')
    .requiredOption('--as-of <iso>', 'only outcomes received by then count')
    .option('--json', 'print the evaluation document as JSON')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(evaluateOptionsSchema, raw, 'evaluate');
      const out = createOutput(Boolean(options.json));
      const document = await withDatabase(async (db) => {
        const definition = await getLabelDefinition(db, parseLabelDefinitionRef(options.labelDefinition));
        return evaluateCohort(
          db,
          { model_name: options.model, model_version: options.version, environment: options.environment ?? null, start: options.from, end: options.to },
          definition,
          options.asOf,
        );
      });
      out.result(document, () => {
        const metrics = Object.entries(document.overall).filter(([, value]) => typeof value !== 'object' || value === null);
        const lines = [`${document.cohort.model_name}@${document.cohort.model_version} [${document.cohort.start}, ${document.cohort.end}) as of ${document.as_of}`];
        for (const [name, value] of metrics) lines.push(`  ${name.padEnd(20)} ${formatNumber(value)}`);
        lines.push(`  join ${JSON.stringify(document.join)}`);
        for (const slice of document.slices) lines.push(`  ${slice.dimension}=${slice.value ?? '(missing)'}: n=${slice.n} labeled=${slice.n_labeled}`);
        return lines.join('\n');
      });
      setExit(EXIT.ok);
    });
}
