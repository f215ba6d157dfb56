import type { Command } from 'commander';
import type { Knex } from 'knex';
import { z } from 'zod';
import { loadCohort } from '../../activities/evaluate/cohorts';
import { baselineFor, diagnoseCohort, type Diagnosis } from '../../activities/diagnose/diagnose';
import type { CohortSelector } from '../../contracts/cohort';
import { timestampSchema } from '../../contracts/records';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { withDatabase } from '../context';
import { checkAsOf, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { parseLabelDefinitionRef, type LabelDefinition } from '../../contracts/label-definition';
import { EstimateInputError } from '../../activities/estimate/estimate-chunks';
import { CalibrationFitError } from '../../stats/platt';

const COHORT_FLAGS = ['model', 'version', 'environment', 'from', 'to', 'labelDefinition'] as const;

const diagnoseOptionsSchema = z
  .object({
    cohort: z.string().min(1).optional(),
    baseline: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    version: z.string().min(1).optional(),
    environment: z.string().min(1).optional(),
    from: timestampSchema.optional(),
    to: timestampSchema.optional(),
    labelDefinition: z.string().min(1).optional(),
    baselineFrom: timestampSchema.optional(),
    baselineTo: timestampSchema.optional(),
    asOf: timestampSchema.optional(),
    threshold: z.coerce
      .number()
      .gt(0, 'must be a share above 0, e.g. 0.1 for a 10% fall')
      .lt(1, 'must be a share below 1, e.g. 0.1 for a 10% fall')
      .optional(),
    calibrate: z.enum(['none', 'isotonic', 'platt']).optional(),
    json: z.boolean().optional(),
  })
  .refine((o) => o.cohort === undefined || COHORT_FLAGS.every((flag) => o[flag] === undefined), {
    path: ['cohort'],
    message: 'give either --cohort ID or the cohort flags (--model, --version, --from, --to, --label-definition), not both',
  })
  .refine((o) => o.cohort !== undefined || COHORT_FLAGS.filter((flag) => flag !== 'environment').every((flag) => o[flag] !== undefined), {
    path: ['cohort'],
    message: 'name the cohort: --cohort ID, or --model, --version, --from, --to and --label-definition',
  })
  .refine((o) => o.from === undefined || o.to === undefined || o.from < o.to, { path: ['from'], message: 'must be before --to' })
  .refine((o) => (o.baselineFrom === undefined) === (o.baselineTo === undefined), {
    path: ['baselineFrom'],
    message: 'give --baseline-from and --baseline-to together',
  })
  .refine((o) => o.baselineFrom === undefined || o.baselineTo === undefined || o.baselineFrom < o.baselineTo, {
    path: ['baselineFrom'],
    message: 'must be before --baseline-to',
  })
  .refine((o) => o.baseline === undefined || o.baselineFrom === undefined, {
    path: ['baseline'],
    message: 'give either --baseline ID or --baseline-from/--baseline-to, not both',
  })
  .refine((o) => o.baseline === undefined || o.cohort !== undefined, {
    path: ['baseline'],
    message: '--baseline ID goes with --cohort ID; with the cohort flags use --baseline-from/--baseline-to',
  });

type DiagnoseOptions = z.output<typeof diagnoseOptionsSchema>;

interface Resolved {
  cohort: CohortSelector;
  baseline: CohortSelector;
  definition: LabelDefinition;
  asOf: string;
  baselineAsOf: string;
}

const selectorOf = (record: CohortSelector): CohortSelector => ({
  model_name: record.model_name,
  model_version: record.model_version,
  environment: record.environment,
  start: record.start,
  end: record.end,
});

/** The cohort, its baseline, the definition and both as-of moments the options name. */
async function resolve(db: Knex, options: DiagnoseOptions): Promise<Resolved> {
  const asOf = options.asOf ?? new Date().toISOString();
  const range = options.baselineFrom && options.baselineTo ? { start: options.baselineFrom, end: options.baselineTo } : undefined;
  if (options.cohort !== undefined) {
    const { record, definition } = await loadCohort(db, options.cohort);
    const cohort = selectorOf(record);
    if (options.baseline === undefined) return { cohort, definition, asOf, ...baselineFor(cohort, asOf, range) };
    const other = await loadCohort(db, options.baseline);
    if (other.record.label_definition_name !== definition.name || other.record.label_definition_version !== definition.version) {
      throw new UsageError(
        `diagnose: --baseline ${options.baseline} is under label definition ` +
          `${other.record.label_definition_name}@${other.record.label_definition_version}, ` +
          `the cohort under ${definition.name}@${definition.version}; compare cohorts of one definition version`,
      );
    }
    return {
      cohort,
      definition,
      asOf,
      ...baselineFor(cohort, asOf, { start: other.record.start, end: other.record.end }),
      baseline: selectorOf(other.record),
    };
  }
  const cohort = cohortSelectorFrom({
    model: options.model!,
    version: options.version!,
    environment: options.environment,
    from: options.from!,
    to: options.to!,
  });
  const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition!), cohort.model_name);
  return { cohort, definition, asOf, ...baselineFor(cohort, asOf, range) };
}

const describe = (c: CohortSelector) =>
  `${c.model_name}@${c.model_version}${c.environment === null ? '' : ` (${c.environment})`} [${c.start}, ${c.end})`;

function formatDiagnosis(diagnosis: Diagnosis): string {
  return [
    `verdict: ${diagnosis.verdict}`,
    `  cohort   ${describe(diagnosis.cohort)} as of ${diagnosis.as_of}`,
    `  baseline ${describe(diagnosis.baseline)} as of ${diagnosis.baseline_as_of}`,
    `  label definition ${diagnosis.label_definition.name}@${diagnosis.label_definition.version}`,
    ...diagnosis.checks.map(
      (check) => `${check.signal === null ? '  ' : check.signal === 'labeling' ? 'L ' : 'Q '}${check.name}: ${check.finding}`,
    ),
  ].join('\n');
}

export function registerDiagnose(program: Command, setExit: (code: number) => void): void {
  program
    .command('diagnose')
    .description(
      "is a cohort's metric down because of the model, the labels, or both? runs the first checks against a baseline at the same maturity",
    )
    .option('--cohort <id>', 'a registered cohort (hindsight cohort list)')
    .option('--baseline <id>', 'a registered cohort to compare with (default: the previous period of the same length)')
    .option('--model <name>', 'model name (instead of --cohort)')
    .option('--version <version>', 'model version')
    .option('--environment <env>', 'only predictions from this environment')
    .option('--from <iso>', 'cohort start (inclusive), with offset')
    .option('--to <iso>', 'cohort end (exclusive), with offset')
    .option('--label-definition <ref>', 'NAME or NAME@VERSION')
    .option('--baseline-from <iso>', 'baseline start (default: the previous period of the same length)')
    .option('--baseline-to <iso>', 'baseline end')
    .option('--as-of <iso>', 'only outcomes received by then count; the baseline is judged as of its end plus the same lag (default: now)')
    .option('--threshold <share>', 'the relative fall of recall, precision or ROC AUC that counts as material (default 0.05: 5%)')
    .option(
      '--calibrate <method>',
      "none, isotonic or platt: how the label-free estimate reads scores, fitted on the baseline's labels (default: isotonic when it has labels)",
    )
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      '\nThe verdict (quality, labeling, both, none) and every check are described in docs/diagnose.md; ' +
        'lines marked L point at the labels, Q at the model.',
    )
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(diagnoseOptionsSchema, raw, 'diagnose');
      const out = createOutput(Boolean(options.json));
      const diagnosis = await withDatabase(async (db) => {
        const resolved = await resolve(db, options);
        // Only an --as-of given: the default (now) before a live cohort's end is what diagnosing it means.
        if (options.asOf !== undefined) checkAsOf('diagnose', resolved.cohort, options.asOf, out.info);
        try {
          return await diagnoseCohort(db, {
            ...resolved,
            ...(options.threshold === undefined ? {} : { metricDrop: options.threshold }),
            ...(options.calibrate === undefined ? {} : { calibration: options.calibrate }),
          });
        } catch (error) {
          if (error instanceof EstimateInputError || error instanceof CalibrationFitError) throw new UsageError(error.message);
          throw error;
        }
      });
      out.result(diagnosis, () => formatDiagnosis(diagnosis));
      setExit(EXIT.ok);
    });
}
