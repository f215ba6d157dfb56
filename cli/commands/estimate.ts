import type { Command } from 'commander';
import { z } from 'zod';
import { estimateChunks, EstimateInputError, type ChunkEstimates } from '../../activities/estimate/estimate-chunks';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { isoDurationSchema } from '../../contracts/iso-duration';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { timestampSchema } from '../../contracts/records';
import { CHUNK_METRICS } from '../../stats/cbpe-estimate';
import { CalibrationFitError } from '../../stats/platt';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';

const estimateOptionsSchema = z
  .object({
    model: z.string().min(1),
    version: z.string().min(1),
    environment: z.string().min(1).optional(),
    from: timestampSchema,
    to: timestampSchema,
    labelDefinition: z.string().min(1),
    referenceVersion: z.string().min(1).optional(),
    referenceFrom: timestampSchema,
    referenceTo: timestampSchema,
    every: isoDurationSchema.optional(),
    chunkSize: z.coerce.number().int().min(1).max(10_000_000).optional(),
    calibrate: z.enum(['none', 'isotonic', 'platt']).optional(),
    asOf: timestampSchema.optional(),
    json: z.boolean().optional(),
  })
  .refine((o) => o.from < o.to, { path: ['from'], message: 'must be before --to' })
  .refine((o) => o.referenceFrom < o.referenceTo, { path: ['referenceFrom'], message: 'must be before --reference-to' })
  .refine((o) => o.every === undefined || o.chunkSize === undefined, {
    path: ['every'],
    message: 'give --every or --chunk-size, not both',
  })
  .refine((o) => o.every !== undefined || o.chunkSize !== undefined, {
    path: ['every'],
    message: 'give --every (a period such as P7D) or --chunk-size (predictions per chunk)',
  });

const f4 = (value: number | null | undefined) => (value === null || value === undefined ? '—' : value.toFixed(4));

function formatEstimates(document: ChunkEstimates): string {
  const { reference } = document;
  const lines = [
    `reference [${reference.from}, ${reference.to}): ${reference.n} predictions, ${reference.n_labeled} labeled, ` +
      `${reference.chunks} chunks; calibration ${reference.calibration}`,
  ];
  for (const chunk of document.chunks) {
    lines.push(
      `[${chunk.from}, ${chunk.to}) n ${chunk.n}, labeled ${chunk.n_labeled}${chunk.outside_band.length > 0 ? `  OUTSIDE BAND: ${chunk.outside_band.join(', ')}` : ''}`,
    );
    for (const metric of CHUNK_METRICS) {
      const band = chunk.band[metric];
      lines.push(
        `  ${metric.padEnd(14)} estimated ${f4(chunk.estimated[metric])}  realized ${f4(chunk.realized?.[metric])}  ` +
          `band ${band === null ? '—' : `[${f4(band[0])}, ${f4(band[1])}]`}`,
      );
    }
    const m = chunk.estimated.confusion_matrix;
    lines.push(`  expected confusion matrix  tp ${m.tp.toFixed(1)}  fp ${m.fp.toFixed(1)}  fn ${m.fn.toFixed(1)}  tn ${m.tn.toFixed(1)}`);
  }
  return lines.join('\n');
}

export function registerEstimate(program: Command, setExit: (code: number) => void): void {
  program
    .command('estimate')
    .description('label-free performance estimate (CBPE, calibrated on a reference) per chunk, with realized values and the reference band')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version of the analysis range')
    .option('--environment <env>', 'only predictions from this environment (both ranges)')
    .requiredOption('--from <iso>', 'analysis range start (inclusive), with offset')
    .requiredOption('--to <iso>', 'analysis range end (exclusive), with offset')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION (binary)')
    .option('--reference-version <version>', 'model version of the reference range (default: --version)')
    .requiredOption('--reference-from <iso>', 'reference range start (inclusive), with offset')
    .requiredOption('--reference-to <iso>', 'reference range end (exclusive), with offset')
    .option('--every <duration>', 'one chunk per period, e.g. P7D')
    .option('--chunk-size <n>', 'one chunk per N predictions in time order')
    .option('--calibrate <method>', 'none, isotonic or platt, fitted on the reference (default: isotonic when it has labels)')
    .option('--as-of <iso>', 'only outcomes received by then count (default: now)')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(estimateOptionsSchema, raw, 'estimate');
      const out = createOutput(Boolean(options.json));
      const document = await withDatabase(async (db) => {
        const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), options.model);
        const environment = options.environment ?? null;
        try {
          return await estimateChunks(db, {
            model_name: options.model,
            definition,
            analysis: { model_version: options.version, environment, from: options.from, to: options.to },
            reference: {
              model_version: options.referenceVersion ?? options.version,
              environment,
              from: options.referenceFrom,
              to: options.referenceTo,
            },
            chunking: options.every !== undefined ? { every: options.every } : { size: options.chunkSize! },
            ...(options.calibrate ? { calibration: options.calibrate } : {}),
            asOf: options.asOf ?? new Date().toISOString(),
          });
        } catch (error) {
          if (error instanceof EstimateInputError || error instanceof CalibrationFitError)
            throw new UsageError(`estimate: ${error.message}`);
          throw error;
        }
      });
      for (const warning of document.warnings) out.info(`hindsight: estimate: warning: ${warning}`);
      out.result(document, () => formatEstimates(document));
      setExit(EXIT.ok);
    });
}
