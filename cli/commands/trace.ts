import type { Command } from 'commander';
import { z } from 'zod';
import { timestampSchema } from '../../contracts/records';
import { uuidSchema } from '../../contracts/uuid';
import { getLabelDefinition } from '../../activities/evaluate/label-definitions';
import { tracePrediction } from '../../activities/evaluate/trace-prediction';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

const traceOptionsSchema = z.object({
  predictionId: uuidSchema,
  labelDefinition: z.string().min(1),
  asOf: timestampSchema.optional(),
  json: z.boolean().optional(),
});

export function registerTrace(program: Command, setExit: (code: number) => void): void {
  program
    .command('trace')
    .description('show a prediction with every outcome that matched it or was rejected for it, and why')
    .argument('<prediction-id>', 'the prediction to trace')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION')
    .option('--as-of <iso>', 'only outcomes received by then count (default: now)')
    .option('--json', 'print one JSON document')
    .action(async (predictionId: string, raw: Record<string, unknown>) => {
      const options = parseOptions(traceOptionsSchema, { ...raw, predictionId }, 'trace');
      const out = createOutput(Boolean(options.json));
      const trace = await withDatabase(async (db) => {
        const definition = await getLabelDefinition(db, parseLabelDefinitionRef(options.labelDefinition));
        return tracePrediction(db, options.predictionId, definition, options.asOf ?? new Date().toISOString());
      });
      const made = new Date(trace.prediction.ts_pred as string | Date);
      if (options.asOf !== undefined && Date.parse(options.asOf) < made.getTime())
        throw new UsageError(
          `trace: --as-of ${options.asOf} is before the prediction was made (ts_pred ${made.toISOString()}): ` +
            'no outcome of it can have been received by then',
        );
      out.result(trace, () => {
        const lines = [
          `prediction ${options.predictionId} (${String(trace.prediction.model_name)}@${String(trace.prediction.model_version)}, ` +
            `ts_pred ${String(trace.prediction.ts_pred)}, score ${String(trace.prediction.score)})`,
          `  label as of ${trace.as_of}: ${trace.label.value ?? '—'} (${trace.label.status})` +
            `${trace.label.outcome_id ? ` from ${trace.label.outcome_id} via ${trace.label.join_path}` : ''}`,
        ];
        for (const outcome of trace.outcomes) {
          lines.push(
            `  ${outcome.outcome_id} ${outcome.outcome_type} at ${outcome.ts_event} (received ${outcome.ts_received}) ` +
              `via ${outcome.join_path}: ${outcome.verdict} — ${outcome.reason}`,
          );
        }
        if (trace.outcomes.length === 0) lines.push('  no outcome names this prediction, its request_id + item_id or its entity');
        return lines.join('\n');
      });
      setExit(EXIT.ok);
    });
}
