import type { Command } from 'commander';
import type { Knex } from 'knex';
import { z } from 'zod';
import { timestampSchema } from '../contracts/records';
import { databaseNow } from '../activities/evaluate/labeled-scores';

/** The flags that pick a model version, its definition and the training and held-out ranges. */
export function addCalibrationRangeOptions(command: Command): Command {
  return command
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version')
    .option('--environment <env>', 'only predictions from this environment')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION (binary)')
    .requiredOption('--train-from <iso>', 'training predictions: ts_pred from (inclusive)')
    .requiredOption('--train-to <iso>', 'training predictions: ts_pred to (exclusive)')
    .requiredOption('--holdout-from <iso>', 'held-out (newest) predictions: ts_pred from (inclusive), at or after --train-to')
    .requiredOption('--holdout-to <iso>', 'held-out predictions: ts_pred to (exclusive); final a window later')
    .option(
      '--as-of <iso>',
      "read the labels known at this moment, with offset: outcomes received after a range's end + window count (default: now)",
    );
}

export const calibrationRangeSchema = z
  .object({
    model: z.string().min(1),
    version: z.string().min(1),
    environment: z.string().min(1).optional(),
    labelDefinition: z.string().min(1),
    trainFrom: timestampSchema,
    trainTo: timestampSchema,
    holdoutFrom: timestampSchema,
    holdoutTo: timestampSchema,
    asOf: timestampSchema.optional(),
    json: z.boolean().optional(),
  })
  .refine((o) => o.trainFrom < o.trainTo, { path: ['trainFrom'], message: 'must be before --train-to' })
  .refine((o) => o.holdoutFrom < o.holdoutTo, { path: ['holdoutFrom'], message: 'must be before --holdout-to' })
  .refine((o) => o.trainTo <= o.holdoutFrom, {
    path: ['holdoutFrom'],
    message: 'must be at or after --train-to: the held-out period is the newest',
  });

export type CalibrationRangeOptions = z.output<typeof calibrationRangeSchema>;

/**
 * The as-of a fit or threshold reads its labels at: `--as-of`, else now by the database's
 * clock (to the millisecond, so never after the moment the reads are checked against).
 */
export async function asOfFrom(db: Knex, options: CalibrationRangeOptions): Promise<string> {
  return options.asOf ?? (await databaseNow(db));
}

/** The request fields the parsed range flags name. */
export function rangesFrom(options: CalibrationRangeOptions) {
  return {
    model_name: options.model,
    model_version: options.version,
    environment: options.environment ?? null,
    train: { from: options.trainFrom, to: options.trainTo },
    holdout: { from: options.holdoutFrom, to: options.holdoutTo },
  };
}
