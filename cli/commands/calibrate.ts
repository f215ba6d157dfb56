import type { Command } from 'commander';
import { z } from 'zod';
import {
  type CalibratorRecord,
  fitCalibrator,
  listCalibrators,
  loadActiveCalibrator,
  promoteCalibrator,
} from '../../activities/calibrate/calibrators';
import { openInput } from '../../activities/ingest/open-input';
import { parseCsv } from '../../activities/ingest/parse-csv';
import { parseNdjson } from '../../activities/ingest/parse-ndjson';
import { applyCalibrator } from '../../client/calibrator';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { CALIBRATION_METHODS } from '../../contracts/recalibration';
import { createRecalibrationSchedule } from '../../control/recalibration-schedules';
import { loadEnv } from '../../workers/env';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import { addCalibrationRangeOptions, calibrationRangeSchema, rangesFrom } from '../calibration-options';
import { withDatabase, withTemporalClient } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { addWorkflowOptions, method, registerRecalibrationCommands, scheduleOptionsSchema, workflowInput } from './calibrate-workflows';

const fitOptionsSchema = z.intersection(
  calibrationRangeSchema,
  z.object({ method, promote: z.boolean(), requestKey: z.string().min(1).max(200).optional() }),
);

function describeCalibrator(c: CalibratorRecord, promoted: boolean | null): string {
  const numbers = (q: CalibratorRecord['before']) =>
    `brier=${formatNumber(q.brier)} log_loss=${formatNumber(q.log_loss)} ece=${formatNumber(q.ece)}`;
  return [
    `calibrator ${c.calibrator_id} (${c.model_name} ${c.model_version} version ${c.version}, ${c.method}) ` +
      `on ${c.train.rows} training rows, judged on ${c.holdout.rows} held out`,
    `  before: ${numbers(c.before)}`,
    `  after:  ${numbers(c.after)}`,
    promoted === null
      ? `  ${c.improved ? 'improved' : 'did not improve'} the held-out Brier score`
      : '  ' +
        (promoted
          ? 'promoted: it is the active calibrator'
          : c.improved
            ? 'not promoted (--no-promote)'
            : 'not promoted: the held-out Brier score did not improve'),
  ].join('\n');
}

/** `line` is the input record's line; null for `--score`. */
type ApplyRow = { line: number | null; score: number; probability: number };

/** Reads `score` from every NDJSON or CSV record; bad ones are reported by line and field. */
async function readScores(
  file: string,
  format: 'ndjson' | 'csv',
): Promise<{ scores: Array<{ line: number | null; score: number }>; rejected: Array<{ line: number; field: string; error: string }> }> {
  const input = await openInput(file);
  const scores: Array<{ line: number | null; score: number }> = [];
  const rejected: Array<{ line: number; field: string; error: string }> = [];
  for await (const batch of format === 'csv' ? parseCsv(input.stream) : parseNdjson(input.stream)) {
    for (const record of batch) {
      if (record.error) {
        rejected.push({ line: record.line, field: record.error.field ?? '(record)', error: record.error.error });
        continue;
      }
      const raw = (record.value as Record<string, unknown> | null)?.score;
      const score = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
      if (raw === undefined || raw === null) rejected.push({ line: record.line, field: 'score', error: 'is missing' });
      else if (!Number.isFinite(score)) rejected.push({ line: record.line, field: 'score', error: 'must be a finite number' });
      else scores.push({ line: record.line, score });
    }
  }
  return { scores, rejected };
}

export function registerCalibrate(program: Command, setExit: (code: number) => void): void {
  const group = program
    .command('calibrate')
    .description("fit, promote and apply calibrators that turn a model version's scores into probabilities");

  addCalibrationRangeOptions(
    group
      .command('fit')
      .description(
        'fit a calibrator on the training range, judge it on the held-out (newest) range, ' +
          'store it as a version, and promote it when the held-out Brier score improves',
      ),
  )
    .option('--method <method>', `${CALIBRATION_METHODS.join(', ')} (auto: Platt below 1,000 labeled training rows)`, 'auto')
    .option('--no-promote', 'store it without promoting it, even when it improves')
    .option('--request-key <key>', 'names the request: the same key stores one version (default: the inputs)')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(fitOptionsSchema, raw, 'calibrate fit');
      const out = createOutput(Boolean(options.json));
      const { calibrator, promoted } = await withDatabase(async (db) => {
        const fitted = await fitCalibrator(db, {
          ...rangesFrom(options),
          label_definition: parseLabelDefinitionRef(options.labelDefinition),
          method: options.method,
          request_key: options.requestKey,
        });
        const c = fitted.calibrator;
        if (options.promote && c.improved) await promoteCalibrator(db, c.calibrator_id, 'cli', null);
        const active = await loadActiveCalibrator(db, { name: c.model_name, version: c.model_version });
        return { calibrator: c, promoted: active?.calibrator_id === c.calibrator_id };
      });
      out.result({ ...calibrator, promoted }, () => describeCalibrator(calibrator, promoted));
      setExit(EXIT.ok);
    });

  group
    .command('apply')
    .description(
      "the active calibrator's probabilities for scores: --score X, or a file (NDJSON or CSV with a score field, - for standard input)",
    )
    .argument('[file]', 'NDJSON or CSV records with a score field')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version')
    .option('--score <x>', 'one score')
    .option('--format <format>', 'ndjson or csv (default: from the file name, else ndjson)')
    .option('--json', 'print one JSON document')
    .action(async (file: string | undefined, raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({
          model: z.string().min(1),
          version: z.string().min(1),
          score: z.coerce.number().refine(Number.isFinite, 'must be a finite number').optional(),
          format: z.enum(['ndjson', 'csv']).optional(),
          json: z.boolean().optional(),
        }),
        raw,
        'calibrate apply',
      );
      if ((file === undefined) === (options.score === undefined))
        throw new UsageError('calibrate apply: pass either --score X or a file of records with a score field');
      const out = createOutput(Boolean(options.json));
      const calibrator = await withDatabase((db) => loadActiveCalibrator(db, { name: options.model, version: options.version }));
      if (!calibrator)
        throw new UsageError(
          `calibrate apply: model ${options.model} version ${options.version} has no active calibrator; ` +
            `fit and promote one with: hindsight calibrate fit`,
        );
      const format = options.format ?? (file !== undefined && /\.csv(\.gz)?$/i.test(file) ? 'csv' : 'ndjson');
      const { scores, rejected } =
        file === undefined ? { scores: [{ line: null, score: options.score! }], rejected: [] } : await readScores(file, format);
      const rows: ApplyRow[] = scores.map(({ line, score }) => ({ line, score, probability: applyCalibrator(calibrator, score) }));
      for (const r of rejected) out.info(`${file}:${r.line}: ${r.field}: ${r.error}`);
      const document = {
        calibrator_id: calibrator.calibrator_id,
        version: calibrator.record.version,
        method: calibrator.method,
        model_name: options.model,
        model_version: options.version,
        probabilities: rows,
        rejected,
      };
      out.result(document, () => rows.map((row) => String(row.probability)).join('\n'));
      setExit(rejected.length > 0 ? EXIT.partial : EXIT.ok);
    });

  registerRecalibrationCommands(group, setExit);

  group
    .command('versions')
    .description("a model's stored calibrator versions, newest first, the active one marked")
    .requiredOption('--model <name>', 'model name')
    .option('--version <version>', 'model version')
    .option('--json', 'print one JSON document')
    .action(async (options: { model: string; version?: string; json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const calibrators = await withDatabase((db) => listCalibrators(db, options.model, options.version));
      out.result({ calibrators }, () =>
        calibrators.length === 0
          ? `no calibrators of ${options.model}`
          : calibrators
              .map(
                (c) =>
                  `${c.active ? '*' : ' '} ${c.model_version} v${c.version} #${c.calibrator_id} ${c.method.padEnd(8)} ` +
                  `held-out brier ${formatNumber(c.before.brier)} → ${formatNumber(c.after.brier)}`,
              )
              .join('\n'),
      );
      setExit(EXIT.ok);
    });

  addWorkflowOptions(
    group.command('schedule').description('a Temporal Schedule that recalibrates every period on the newest finalized periods'),
  )
    .requiredOption('--every <duration>', 'how often, and the period length: P1D, P7D (weeks from Monday), …')
    .option('--train-periods <n>', 'periods to fit on', '4')
    .option('--holdout-periods <n>', 'newest finalized periods to judge on', '1')
    .option('--schedule-id <id>', 'schedule id (default: recalibration-schedule/MODEL/VERSION/ENV/DEFINITION/EVERY)')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(scheduleOptionsSchema, raw, 'calibrate schedule');
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const created = await withTemporalClient(env, (client) =>
        createRecalibrationSchedule(client, {
          scheduleId: options.scheduleId,
          input: workflowInput(options),
          every: options.every,
          trainPeriods: options.trainPeriods,
          holdoutPeriods: options.holdoutPeriods,
          taskQueue: env.HINDSIGHT_TASK_QUEUE,
        }),
      );
      out.result(
        { schedule_id: created.schedule_id, ...created.memo },
        () => `created ${created.schedule_id}: recalibrate ${options.model} ${options.version} every ${options.every}`,
      );
      setExit(EXIT.ok);
    });
}
