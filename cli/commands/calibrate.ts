import { ScheduleNotFoundError } from '@temporalio/client';
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
import { schedulePeriods } from '../../control/cohort-schedules';
import { requireScheduleKind } from '../../control/schedules';
import { loadEnv } from '../../workers/env';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import { addCalibrationRangeOptions, asOfFrom, calibrationRangeSchema, rangesFrom } from '../calibration-options';
import { withDatabase, withTemporalClient } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import {
  addWorkflowOptions,
  method,
  registerRecalibrationCommands,
  requireFlags,
  scheduleOptionsSchema,
  workflowInput,
} from './calibrate-workflows';

const fitOptionsSchema = z.intersection(
  calibrationRangeSchema,
  z.object({ method, promote: z.boolean(), requestKey: z.string().min(1).max(200).optional() }),
);

function describeCalibrator(c: CalibratorRecord, promoted: boolean | null): string {
  const numbers = (q: CalibratorRecord['before']) =>
    `brier=${formatNumber(q.brier)} log_loss=${formatNumber(q.log_loss)} ece=${formatNumber(q.ece)}`;
  return [
    `calibrator ${c.calibrator_id} (${c.model_name} ${c.model_version} version ${c.version}, ${c.method}) ` +
      `on ${c.train.rows} training rows, judged on ${c.holdout.rows} held out, ${labelsAsOf(c)}`,
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

/** Which labels a calibrator was fitted with: those known at its as-of, or (older fits) each range's at its end + window. */
function labelsAsOf(c: CalibratorRecord): string {
  return c.as_of === null ? "labels as of each range's end + window" : `labels as of ${c.as_of}`;
}

/** `line` is the input record's line; null for `--score`. */
type ApplyRow = { line: number | null; score: number; probability: number };
type Rejected = { line: number; field: string; error: string };

/**
 * The scores `calibrate apply` reads (docs/calibration.md): a JSON number, or text that is a
 * plain decimal (`0.5`, `.5`, `-1`, `1e-3`, `2.5E+2`) with optional spaces or tabs around it.
 * Not hexadecimal, binary or octal (`0x10`), not `Infinity` or `NaN`, not empty, and the value
 * must be finite (`1e999` is refused).
 */
const DECIMAL = /^[ \t]*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?[ \t]*$/;
const NOT_DECIMAL = 'must be a decimal number such as 0.5, .5 or 1e-3';

export function parseScore(raw: unknown): number | string {
  if (raw === undefined || raw === null) return 'is missing';
  const score = typeof raw === 'number' ? raw : typeof raw === 'string' && DECIMAL.test(raw) ? Number(raw) : Number.NaN;
  return Number.isFinite(score) ? score : NOT_DECIMAL;
}

/**
 * Reads `score` from every NDJSON or CSV record, in order: bad ones keep their place (so the
 * output stays aligned with the records) and are reported by line and field.
 */
async function readScores(file: string, format: 'ndjson' | 'csv'): Promise<Array<{ line: number; score: number } | Rejected>> {
  const input = await openInput(file);
  const entries: Array<{ line: number; score: number } | Rejected> = [];
  for await (const batch of format === 'csv' ? parseCsv(input.stream) : parseNdjson(input.stream)) {
    for (const record of batch) {
      if (record.error) {
        entries.push({ line: record.line, field: record.error.field ?? '(record)', error: record.error.error });
        continue;
      }
      const score = parseScore((record.value as Record<string, unknown> | null)?.score);
      entries.push(typeof score === 'number' ? { line: record.line, score } : { line: record.line, field: 'score', error: score });
    }
  }
  return entries;
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
          as_of: await asOfFrom(db, options),
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
          score: z
            .string()
            .transform((text, ctx) => {
              const score = parseScore(text);
              if (typeof score === 'number') return score;
              ctx.addIssue({ code: 'custom', message: NOT_DECIMAL });
              return z.NEVER;
            })
            .optional(),
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
      const entries = file === undefined ? [{ line: null, score: options.score! }] : await readScores(file, format);
      const applied = entries.map((entry) =>
        'score' in entry ? { line: entry.line, score: entry.score, probability: applyCalibrator(calibrator, entry.score) } : entry,
      );
      const rows = applied.filter((entry): entry is ApplyRow => 'probability' in entry);
      const rejected = applied.filter((entry): entry is Rejected => 'error' in entry);
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
      // One line per record, in order: a rejected record prints an empty line, so the lines stay aligned.
      out.result(document, () => applied.map((entry) => ('probability' in entry ? String(entry.probability) : '')).join('\n'));
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
                  `held-out brier ${formatNumber(c.before.brier)} → ${formatNumber(c.after.brier)}, ${labelsAsOf(c)}`,
              )
              .join('\n'),
      );
      setExit(EXIT.ok);
    });

  const schedule = addWorkflowOptions(
    group
      .command('schedule')
      .description(
        'a Temporal Schedule that recalibrates every period on the newest finalized periods (remove it: calibrate schedule delete ID)',
      ),
    { required: false },
  )
    .option('--every <duration>', 'how often, and the period length: P1D, P7D (weeks from Monday), … at least PT1M (required)')
    .option('--allow-short-periods', 'allow --every under a minute (tests and demos)')
    .option('--train-periods <n>', 'periods to fit on', '4')
    .option('--holdout-periods <n>', 'newest finalized periods to judge on', '1')
    .option('--schedule-id <id>', 'schedule id (default: recalibration-schedule/MODEL/VERSION/ENV/DEFINITION/EVERY)')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      requireFlags('calibrate schedule', raw, {
        model: '--model <name>',
        version: '--version <version>',
        labelDefinition: '--label-definition <ref>',
        every: '--every <duration>',
      });
      const options = parseOptions(scheduleOptionsSchema, raw, 'calibrate schedule');
      // The period is checked before Temporal is asked anything.
      schedulePeriods(options.every, undefined, { allowShortPeriods: options.allowShortPeriods });
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
          allowShortPeriods: Boolean(options.allowShortPeriods),
        }),
      );
      out.result(
        { schedule_id: created.schedule_id, ...created.memo },
        () => `created ${created.schedule_id}: recalibrate ${options.model} ${options.version} every ${options.every}`,
      );
      setExit(EXIT.ok);
    });

  // `calibrate schedule --json` is the parent's flag: commander gives it to `schedule`, so `delete` reads it from there.
  schedule
    .command('delete')
    .argument('<schedule-id>', 'a recalibration schedule (hindsight schedule list)')
    .description('delete a recalibration schedule; the recalibrations it started keep running')
    .action(async (scheduleId: string, _options: unknown, command: Command) => {
      const out = createOutput(Boolean(command.optsWithGlobals().json));
      await withTemporalClient(loadEnv(), async (client) => {
        const handle = client.schedule.getHandle(scheduleId);
        let kind;
        try {
          kind = requireScheduleKind(scheduleId, await handle.describe());
        } catch (error) {
          if (error instanceof ScheduleNotFoundError)
            throw new UsageError(`schedule ${scheduleId} not found; list them with: hindsight schedule list`);
          throw error;
        }
        if (kind !== 'recalibration')
          throw new UsageError(
            `calibrate schedule delete: ${scheduleId} is a ${kind} schedule, not a recalibration one; ` +
              `delete it with: hindsight schedule delete ${scheduleId}`,
          );
        await handle.delete();
      });
      out.result(
        { schedule_id: scheduleId, kind: 'recalibration', deleted: true },
        () => `deleted ${scheduleId}; running recalibrations go on`,
      );
      setExit(EXIT.ok);
    });
}
