import type { Command } from 'commander';
import { z } from 'zod';
import { computeDrift } from '../../activities/diagnose/drift';
import { timestampSchema } from '../../contracts/records';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT } from '../output';

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
    .description('PSI and two-sample KS of scores and numeric features between a reference cohort and the current one (no labels needed)')
    .requiredOption('--model <name>', 'model name')
    .option('--version <version>', 'model version of the current cohort (default: --reference-version)')
    .option('--environment <env>', 'only current predictions from this environment')
    .requiredOption('--from <iso>', 'current cohort start (inclusive), with offset')
    .requiredOption('--to <iso>', 'current cohort end (exclusive), with offset')
    .option('--reference-version <version>', 'model version of the reference cohort (default: --version)')
    .option('--reference-environment <env>', 'only reference predictions from this environment')
    .requiredOption('--reference-from <iso>', 'reference cohort start (inclusive), with offset')
    .requiredOption('--reference-to <iso>', 'reference cohort end (exclusive), with offset')
    .option('--features <keys>', 'comma-separated numeric feature keys (default: all numeric keys of the reference)')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(driftOptionsSchema, raw, 'drift');
      const currentVersion = (options.version ?? options.referenceVersion)!;
      const out = createOutput(Boolean(options.json));
      const document = await withDatabase((db) =>
        computeDrift(db, {
          model_name: options.model,
          reference: {
            model_version: options.referenceVersion ?? currentVersion,
            environment: options.referenceEnvironment ?? null,
            start: options.referenceFrom,
            end: options.referenceTo,
          },
          current: { model_version: currentVersion, environment: options.environment ?? null, start: options.from, end: options.to },
          ...(options.features
            ? {
                features: options.features
                  .split(',')
                  .map((key) => key.trim())
                  .filter(Boolean),
              }
            : {}),
        }),
      );
      out.result(document, () => {
        const lines = [
          `${document.model_name}: ${document.current.model_version} [${document.current.start}, ${document.current.end}) ` +
            `against ${document.reference.model_version} [${document.reference.start}, ${document.reference.end})`,
        ];
        for (const v of document.variables) {
          lines.push(
            `  ${v.variable.padEnd(24)} psi ${v.psi === null ? '—' : v.psi.toFixed(4)}  ` +
              `ks ${v.ks === null ? '—' : v.ks.toFixed(4)}  (n ${v.n_reference} → ${v.n_current})`,
          );
        }
        return lines.join('\n');
      });
      setExit(EXIT.ok);
    });
}
