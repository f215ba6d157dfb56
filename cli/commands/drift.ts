import type { Command } from 'commander';
import { z } from 'zod';
import { computeDrift, DRIFT_SLICE_PATTERN, UnknownFeatureError, type VariableDrift } from '../../activities/diagnose/drift';
import { timestampSchema } from '../../contracts/records';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';

const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);

/** One variable's line: PSI and KS when numeric; PSI, Jensen–Shannon, chi-squared and L-infinity when categorical. */
function variableLine(v: VariableDrift): string {
  const f = (value: number | null) => (value === null ? '—' : value.toFixed(4));
  const measures =
    v.kind === 'numeric'
      ? `psi ${f(v.psi)}  ks ${f(v.ks)}`
      : `psi ${f(v.psi)}  js ${f(v.jensen_shannon)}  chi2 ${f(v.chi_squared)} (dof ${v.chi_squared_dof ?? '—'}, ` +
        `p ${v.chi_squared_p_value === null ? '—' : v.chi_squared_p_value.toPrecision(3)})  linf ${f(v.l_infinity)}`;
  return `  ${v.variable.padEnd(24)} ${measures}  (n ${v.n_reference} → ${v.n_current})`;
}

const driftOptionsSchema = z
  .object({
    model: z.string().min(1),
    version: z.string().min(1).optional(),
    environment: z.string().min(1).optional(),
    from: timestampSchema,
    to: timestampSchema,
    referenceVersion: z.string().min(1).optional(),
    referenceEnvironment: z.string().min(1).optional(),
    referenceFrom: timestampSchema,
    referenceTo: timestampSchema,
    features: z.string().min(1).optional(),
    slices: z
      .string()
      .min(1)
      .optional()
      .refine((value) => value === undefined || commaList(value).every((dimension) => DRIFT_SLICE_PATTERN.test(dimension)), {
        message: 'each slice dimension must be region, environment or segment.<key>',
      }),
    json: z.boolean().optional(),
  })
  .refine((o) => o.version !== undefined || o.referenceVersion !== undefined, {
    path: ['version'],
    message: 'give --version, --reference-version or both',
  })
  .refine((o) => o.from < o.to, { path: ['from'], message: 'must be before --to' })
  .refine((o) => o.referenceFrom < o.referenceTo, { path: ['referenceFrom'], message: 'must be before --reference-to' });

export function registerDrift(program: Command, setExit: (code: number) => void): void {
  program
    .command('drift')
    .description(
      'drift between a reference cohort and the current one (no labels needed): PSI and KS of scores and numeric features; ' +
        'Jensen–Shannon, chi-squared and L-infinity of categorical features and slice dimensions',
    )
    .requiredOption('--model <name>', 'model name')
    .option('--version <version>', 'model version of the current cohort (default: --reference-version)')
    .option('--environment <env>', 'only current predictions from this environment')
    .requiredOption('--from <iso>', 'current cohort start (inclusive), with offset')
    .requiredOption('--to <iso>', 'current cohort end (exclusive), with offset')
    .option('--reference-version <version>', 'model version of the reference cohort (default: --version)')
    .option('--reference-environment <env>', 'only reference predictions from this environment')
    .requiredOption('--reference-from <iso>', 'reference cohort start (inclusive), with offset')
    .requiredOption('--reference-to <iso>', 'reference cohort end (exclusive), with offset')
    .option('--features <keys>', 'comma-separated feature keys, numeric or string-valued (default: all such keys of the reference)')
    .option('--slices <dimensions>', 'comma-separated slice dimensions compared as categories: region, environment, segment.<key>')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(driftOptionsSchema, raw, 'drift');
      const currentVersion = (options.version ?? options.referenceVersion)!;
      const out = createOutput(Boolean(options.json));
      const document = await withDatabase((db) =>
        computeDrift(db, {
          ...(options.slices ? { slices: commaList(options.slices) } : {}),
          model_name: options.model,
          reference: {
            model_version: options.referenceVersion ?? currentVersion,
            environment: options.referenceEnvironment ?? null,
            start: options.referenceFrom,
            end: options.referenceTo,
          },
          current: { model_version: currentVersion, environment: options.environment ?? null, start: options.from, end: options.to },
          ...(options.features ? { features: commaList(options.features) } : {}),
        }).catch((error: unknown) => {
          throw error instanceof UnknownFeatureError ? new UsageError(`drift: --features: ${error.message}`) : error;
        }),
      );
      out.result(document, () => {
        const lines = [
          `${document.model_name}: ${document.current.model_version} [${document.current.start}, ${document.current.end}) ` +
            `against ${document.reference.model_version} [${document.reference.start}, ${document.reference.end})`,
        ];
        for (const v of document.variables) lines.push(variableLine(v));
        return lines.join('\n');
      });
      // A feature whose values changed type between the cohorts shows as no drift unless said.
      for (const v of document.variables) {
        for (const side of ['reference', 'current'] as const) {
          const n = v.other_type[side];
          if (n > 0)
            out.info(
              `hindsight: drift: warning: ${n} ${side} value(s) of ${v.variable} are ${v.kind === 'numeric' ? 'not numbers' : 'not strings'}, ` +
                `left out of its measures; its type differs between the cohorts or within one`,
            );
        }
      }
      // A cohort without a scored prediction is most often a mistake in its flags (a version, an
      // environment, dates): every measure is null, so say which cohort, as evaluate does, and exit 1.
      const score = document.variables[0]!;
      const empty = [
        ...(score.n_reference === 0 ? [['reference', document.reference] as const] : []),
        ...(score.n_current === 0 ? [['current', document.current] as const] : []),
      ];
      for (const [name, cohort] of empty) {
        out.info(
          `drift: the ${name} cohort [${cohort.start}, ${cohort.end}) has no scored predictions of ${document.model_name} ` +
            `${cohort.model_version}${cohort.environment === null ? '' : ` in ${cohort.environment}`}; its measures are null`,
        );
      }
      setExit(empty.length > 0 ? EXIT.partial : EXIT.ok);
    });
}
