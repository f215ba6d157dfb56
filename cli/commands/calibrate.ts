import { userInfo } from 'node:os';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { applyCalibrator } from '../../client/calibrator';
import {
  fitCalibrator,
  listCalibrators,
  loadActiveCalibrator,
  promoteCalibrator,
  type CalibratorRecord,
} from '../../activities/calibrate/calibrators';
import { parseCsv } from '../../activities/ingest/parse-csv';
import { parseNdjson } from '../../activities/ingest/parse-ndjson';
import { openInput } from '../../activities/ingest/open-input';
import { timestampSchema } from '../../contracts/records';
import { fixedDurationMs, isoDurationSchema } from '../../contracts/iso-duration';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { loadEnv } from '../../workers/env';
import { explainSearchAttributeError } from '../../control/search-attributes';
import { approveCalibratorSignal, getRecalibrationStateQuery, recalibration, rejectCalibratorSignal } from '../../workflows';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import { LABEL_DEFINITION, LIFECYCLE_STAGE, MODEL_NAME, MODEL_VERSION } from '../../contracts/search-attributes';
import { CALIBRATION_METHODS, RECALIBRATION_PHASES, type RecalibrationInput, type RecalibrationState } from '../../contracts/recalibration';
import { recalibrationStartOptions } from '../../contracts/recalibration';
import { addCalibrationRangeOptions, calibrationRangeSchema, rangesFrom } from '../calibration-options';
import { withDatabase, withTemporalClient } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { createRecalibrationSchedule } from '../../control/recalibration-schedules';
import { workflowState } from '../../control/workflow-state';

const method = z.enum(CALIBRATION_METHODS);
const fitOptionsSchema = z.intersection(
  calibrationRangeSchema,
  z.object({ method, promote: z.boolean(), requestKey: z.string().min(1).max(200).optional() }),
);

const quoteFree = z
  .string()
  .min(1)
  .regex(/^[^'"\\]+$/, 'must not contain quotes or backslashes');
const periodsSchema = z.coerce.number().int().min(1).max(1000);
const approvalTimeoutSchema = isoDurationSchema.refine(
  (d) => fixedDurationMs(d) !== undefined && fixedDurationMs(d)! > 0,
  'must be a fixed ISO-8601 duration longer than zero (no months or years)',
);

/** The flags of a recalibration workflow that `start` and `schedule` share. */
function addWorkflowOptions(command: Command): Command {
  return command
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version')
    .option('--environment <env>', 'only predictions from this environment')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION (binary)')
    .option('--method <method>', `${CALIBRATION_METHODS.join(', ')} (auto: Platt below 1,000 labeled training rows)`, 'auto')
    .option('--require-approval', 'promote only after hindsight calibrate approve')
    .option('--approval-timeout <duration>', 'how long to wait for the approval before giving up (not promoted)', 'P7D');
}

const workflowOptionsSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  environment: z.string().min(1).optional(),
  labelDefinition: z.string().min(1),
  method,
  requireApproval: z.boolean().optional(),
  approvalTimeout: approvalTimeoutSchema,
  json: z.boolean().optional(),
});

const startOptionsSchema = z.intersection(
  workflowOptionsSchema,
  z.object({
    trainFrom: timestampSchema.optional(),
    trainTo: timestampSchema.optional(),
    holdoutFrom: timestampSchema.optional(),
    holdoutTo: timestampSchema.optional(),
    every: isoDurationSchema.optional(),
    trainPeriods: periodsSchema,
    holdoutPeriods: periodsSchema,
    requestKey: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^/]+$/, 'must not contain /')
      .optional(),
    wait: z.boolean().optional(),
  }),
);

const scheduleOptionsSchema = z.intersection(
  workflowOptionsSchema,
  z.object({
    every: isoDurationSchema,
    trainPeriods: periodsSchema,
    holdoutPeriods: periodsSchema,
    scheduleId: z.string().min(1).max(200).optional(),
  }),
);

function workflowInput(options: z.output<typeof workflowOptionsSchema>): Omit<RecalibrationInput, 'ranges' | 'recent'> {
  return {
    model: { name: options.model, version: options.version, environment: options.environment ?? null },
    labelDefinition: options.labelDefinition,
    method: options.method,
    requireApproval: Boolean(options.requireApproval),
    approvalTimeoutMs: fixedDurationMs(options.approvalTimeout)!,
  };
}

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

function describeState(workflowId: string, status: string, state: RecalibrationState): string {
  const c = state.calibrator;
  return [
    `${workflowId}: ${status}, ${state.phase}`,
    ...(state.plan
      ? [
          `  ${state.plan.labelDefinition} · train [${state.plan.train.from}, ${state.plan.train.to}) ` +
            `· held out [${state.plan.holdout.from}, ${state.plan.holdout.to})`,
        ]
      : []),
    ...(c
      ? [
          `  calibrator ${c.calibratorId} (version ${c.version}, ${c.method}): ` +
            `held-out brier ${formatNumber(c.before.brier)} → ${formatNumber(c.after.brier)}`,
        ]
      : []),
    ...(state.reason ? [`  ${state.reason}`] : []),
  ].join('\n');
}

/** A recalibration's state: its result once completed (no worker needed), else its query. */
async function readState(client: Client, workflowId: string): Promise<{ status: string; state: RecalibrationState }> {
  const handle = client.workflow.getHandle<typeof recalibration>(workflowId);
  try {
    const description = await handle.describe();
    const state = await workflowState(handle, description.status.name, getRecalibrationStateQuery);
    return { status: description.status.name, state };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new UsageError(`no recalibration workflow ${workflowId}; find them with: hindsight calibrate list`);
    throw error;
  }
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

  addWorkflowOptions(
    group
      .command('start')
      .description('start a recalibration workflow by hand: explicit ranges, or the last whole periods finalized now (--every)'),
  )
    .option('--train-from <iso>', 'training ts_pred from (with --train-to, --holdout-from, --holdout-to)')
    .option('--train-to <iso>', 'training ts_pred to (exclusive)')
    .option('--holdout-from <iso>', 'held-out ts_pred from')
    .option('--holdout-to <iso>', 'held-out ts_pred to (exclusive)')
    .option('--every <duration>', 'instead of ranges: periods of this length (P7D: weeks from Monday)')
    .option('--train-periods <n>', 'with --every: periods to fit on', '4')
    .option('--holdout-periods <n>', 'with --every: newest finalized periods to judge on', '1')
    .option('--request-key <key>', 'names the request; the same key starts it once (default: manual-<now>)')
    .option('--wait', 'wait for the outcome and print it')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(startOptionsSchema, raw, 'calibrate start');
      const bounds = [options.trainFrom, options.trainTo, options.holdoutFrom, options.holdoutTo];
      const given = bounds.filter((b) => b !== undefined).length;
      if (given !== 0 && given !== 4)
        throw new UsageError(
          'calibrate start: pass all four of --train-from, --train-to, --holdout-from, --holdout-to, or none and --every',
        );
      if ((given === 4) === (options.every !== undefined))
        throw new UsageError('calibrate start: pass either the four range flags or --every');
      if (
        given === 4 &&
        !(options.trainFrom! < options.trainTo! && options.trainTo! <= options.holdoutFrom! && options.holdoutFrom! < options.holdoutTo!)
      ) {
        throw new UsageError('calibrate start: the ranges must satisfy train-from < train-to <= holdout-from < holdout-to');
      }
      let input: RecalibrationInput = { ...workflowInput(options), trigger: 'manual' };
      if (given === 4)
        input = {
          ...input,
          ranges: {
            train: { from: options.trainFrom!, to: options.trainTo! },
            holdout: { from: options.holdoutFrom!, to: options.holdoutTo! },
          },
        };
      else {
        const everyMs = fixedDurationMs(options.every!);
        if (everyMs === undefined)
          throw new UsageError(
            `calibrate start: --every ${options.every} must be a fixed duration such as P7D (months and years vary in length)`,
          );
        input = {
          ...input,
          recent: { every: options.every!, everyMs, trainPeriods: options.trainPeriods, holdoutPeriods: options.holdoutPeriods },
        };
      }
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const start = recalibrationStartOptions(input, options.requestKey ?? `manual-${new Date().toISOString()}`);
      const document = await withTemporalClient(env, async (client) => {
        let alreadyStarted = false;
        try {
          await client.workflow.start(recalibration, {
            ...start,
            taskQueue: env.HINDSIGHT_TASK_QUEUE,
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          });
        } catch (error) {
          if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw explainSearchAttributeError(error);
          alreadyStarted = true;
        }
        const outcome = options.wait ? await client.workflow.getHandle<typeof recalibration>(start.workflowId).result() : null;
        return { workflow_id: start.workflowId, already_started: alreadyStarted, ...(outcome ? { state: outcome } : {}) };
      });
      out.result(document, () =>
        document.state
          ? describeState(document.workflow_id, 'COMPLETED', document.state)
          : `${document.already_started ? 'already started' : 'started'} ${document.workflow_id}`,
      );
      setExit(EXIT.ok);
    });

  for (const [verb, signal] of [
    ['approve', approveCalibratorSignal],
    ['reject', rejectCalibratorSignal],
  ] as const) {
    group
      .command(verb)
      .description(
        verb === 'approve' ? 'approve the calibrator a recalibration awaits approval for: it is promoted' : 'reject it: it is not promoted',
      )
      .requiredOption('--workflow-id <id>', 'the recalibration workflow (hindsight calibrate list --stage awaiting_approval)')
      .option('--by <name>', 'who decides (default: the user name)')
      .option('--note <text>', 'why, kept with the decision')
      .option('--json', 'print one JSON document')
      .action(async (options: { workflowId: string; by?: string; note?: string; json?: boolean }) => {
        const out = createOutput(Boolean(options.json));
        const by = options.by ?? userInfo().username;
        const document = await withTemporalClient(loadEnv(), async (client) => {
          const { status, state } = await readState(client, options.workflowId);
          if (status !== 'RUNNING' || state.phase !== 'awaiting_approval') {
            throw new UsageError(
              `calibrate ${verb}: ${options.workflowId} is ${status.toLowerCase()} in phase ${state.phase}, not awaiting approval`,
            );
          }
          await client.workflow.getHandle(options.workflowId).signal(signal, { by, note: options.note ?? null });
          return { workflow_id: options.workflowId, decision: verb, by, calibrator_id: state.calibrator?.calibratorId ?? null };
        });
        out.result(
          document,
          () => `${verb === 'approve' ? 'approved' : 'rejected'} calibrator ${document.calibrator_id} of ${options.workflowId}`,
        );
        setExit(EXIT.ok);
      });
  }

  group
    .command('status')
    .argument('<workflow-id>', 'a recalibration workflow')
    .option('--json', 'print one JSON document')
    .description("a recalibration's phase, ranges, calibrator and outcome")
    .action(async (workflowId: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const { status, state } = await withTemporalClient(loadEnv(), (client) => readState(client, workflowId));
      out.result({ workflow_id: workflowId, workflow_status: status, ...state }, () => describeState(workflowId, status, state));
      setExit(EXIT.ok);
    });

  group
    .command('list')
    .description('recalibration workflows by model, version and phase (Temporal search attributes)')
    .option('--model <name>', 'model name')
    .option('--version <version>', 'model version')
    .option('--stage <phase>', `phase: ${RECALIBRATION_PHASES.join(', ')}`)
    .option('--limit <n>', 'at most this many, newest first', '200')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(
        z.object({
          model: quoteFree.optional(),
          version: quoteFree.optional(),
          stage: z.enum(RECALIBRATION_PHASES).optional(),
          limit: z.coerce.number().int().min(1).max(100_000),
          json: z.boolean().optional(),
        }),
        raw,
        'calibrate list',
      );
      const out = createOutput(Boolean(options.json));
      const query = [
        `WorkflowType = 'recalibration'`,
        ...(
          [
            [MODEL_NAME.name, options.model],
            [MODEL_VERSION.name, options.version],
            [LIFECYCLE_STAGE.name, options.stage],
          ] as const
        )
          .filter(([, value]) => value !== undefined)
          .map(([name, value]) => `${name} = '${value}'`),
      ].join(' AND ');
      const workflows = await withTemporalClient(loadEnv(), async (client) => {
        const found = [];
        for await (const execution of client.workflow.list({ query })) {
          const attributes = execution.typedSearchAttributes;
          found.push({
            workflow_id: execution.workflowId,
            model_name: attributes.get(MODEL_NAME) ?? null,
            model_version: attributes.get(MODEL_VERSION) ?? null,
            label_definition: attributes.get(LABEL_DEFINITION) ?? null,
            phase: attributes.get(LIFECYCLE_STAGE) ?? null,
            workflow_status: execution.status.name,
            started_at: execution.startTime.toISOString(),
          });
          if (found.length >= options.limit) break;
        }
        return found;
      });
      out.result({ workflows }, () =>
        workflows.length === 0
          ? 'no recalibrations match'
          : workflows.map((w) => `${(w.phase ?? '?').padEnd(18)} ${w.workflow_status.padEnd(10)} ${w.workflow_id}`).join('\n'),
      );
      setExit(EXIT.ok);
    });

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
