import type { Command } from 'commander';
import { z } from 'zod';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { recalibrateThreshold, type ThresholdDocument } from '../../activities/calibrate/thresholds';
import type { ThresholdSearchPoint } from '../../stats/threshold-search';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import { addCalibrationRangeOptions, asOfFrom, calibrationRangeSchema, rangesFrom } from '../calibration-options';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';

const rate = z.coerce.number().gt(0).max(1);
const thresholdOptionsSchema = z.intersection(
  calibrationRangeSchema,
  z.object({ targetPrecision: rate.optional(), targetRecall: rate.optional(), minCost: z.boolean().optional() }),
);

function line(name: string, point: ThresholdSearchPoint): string {
  return (
    `  ${name}: n=${point.n} tp=${point.tp} fp=${point.fp} fn=${point.fn} tn=${point.tn} ` +
    `precision=${formatNumber(point.precision)} recall=${formatNumber(point.recall)} expected_cost=${formatNumber(point.expected_cost)}`
  );
}

export function registerThreshold(program: Command, setExit: (code: number) => void): void {
  addCalibrationRangeOptions(
    program
      .command('threshold')
      .description(
        'the decision threshold that reaches a target precision or recall, or minimizes the expected cost, ' +
          'chosen on the training range and reported on the held-out one',
      ),
  )
    .option('--target-precision <p>', 'the lowest threshold whose training precision is at least p')
    .option('--target-recall <r>', 'the highest threshold whose training recall is at least r')
    .option('--min-cost', "the threshold with the least fp·cost_fp + fn·cost_fn (the definition's costs)")
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(thresholdOptionsSchema, raw, 'threshold');
      const chosen = [options.targetPrecision !== undefined, options.targetRecall !== undefined, Boolean(options.minCost)].filter(
        Boolean,
      ).length;
      if (chosen !== 1) throw new UsageError('threshold: pass exactly one of --target-precision, --target-recall, --min-cost');
      const objective =
        options.targetPrecision !== undefined
          ? { kind: 'target_precision' as const, target: options.targetPrecision }
          : options.targetRecall !== undefined
            ? { kind: 'target_recall' as const, target: options.targetRecall }
            : { kind: 'min_cost' as const };
      const out = createOutput(Boolean(options.json));
      const document: ThresholdDocument = await withDatabase(async (db) =>
        recalibrateThreshold(db, {
          ...rangesFrom(options),
          label_definition: parseLabelDefinitionRef(options.labelDefinition),
          as_of: await asOfFrom(db, options),
          objective,
        }),
      );
      out.result(document, () =>
        [
          `threshold ${document.threshold} (${document.objective.kind.replace('_', ' ')}` +
            `${'target' in document.objective ? ` ${document.objective.target}` : ''}) ` +
            `for ${document.model_name} ${document.model_version} · ${document.label_definition} · labels as of ${document.as_of}`,
          line(`train [${document.train.from}, ${document.train.to})`, document.train.at_threshold),
          line(`held out [${document.holdout.from}, ${document.holdout.to})`, document.holdout.at_threshold),
        ].join('\n'),
      );
      setExit(EXIT.ok);
    });
}
