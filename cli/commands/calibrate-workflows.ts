/**
 * The recalibration workflow's commands under `hindsight calibrate`: start one by hand, approve
 * or reject the calibrator it awaits approval for, read its state, list recalibrations; and
 * the workflow options `calibrate schedule` shares with `start`.
 */
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { z } from 'zod';
import { fixedDurationMs, isoDurationSchema } from '../../contracts/iso-duration';
import {
  CALIBRATION_METHODS,
  RECALIBRATION_PHASES,
  type RecalibrationInput,
  recalibrationStartOptions,
  type RecalibrationState,
} from '../../contracts/recalibration';
import { timestampSchema } from '../../contracts/records';
import { LABEL_DEFINITION, LIFECYCLE_STAGE, MODEL_NAME, MODEL_VERSION } from '../../contracts/search-attributes';
import { explainSearchAttributeError } from '../../control/search-attributes';
import { workflowState } from '../../control/workflow-state';
import { loadEnv } from '../../workers/env';
import { getRecalibrationStateQuery, recalibration } from '../../workflows';
import { decideCalibratorUpdate } from '../../contracts/recalibration';
import { decide } from '../../control/updates';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import { withTemporalClient } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';

export const method = z.enum(CALIBRATION_METHODS);

export const quoteFree = z
  .string()
  .min(1)
  .regex(/^[^'"\\]+$/, 'must not contain quotes or backslashes');

export const periodsSchema = z.coerce.number().int().min(1).max(1000);

export const approvalTimeoutSchema = isoDurationSchema.refine(
  (d) => fixedDurationMs(d) !== undefined && fixedDurationMs(d)! > 0,
  'must be a fixed ISO-8601 duration longer than zero (no months or years)',
);

/**
 * The flags of a recalibration workflow that `start` and `schedule` share. `schedule` has
 * subcommands (`schedule delete`), which commander would hold to the parent's required
 * options, so there they are checked by {@link requireFlags} instead.
 */
export function addWorkflowOptions(command: Command, { required = true }: { required?: boolean } = {}): Command {
  const option = (flags: string, description: string) =>
    required ? command.requiredOption(flags, description) : command.option(flags, `${description} (required)`);
  option('--model <name>', 'model name');
  option('--version <version>', 'model version');
  option('--label-definition <ref>', 'NAME or NAME@VERSION (binary)');
  return command
    .option('--environment <env>', 'only predictions from this environment')
    .option('--method <method>', `${CALIBRATION_METHODS.join(', ')} (auto: Platt below 1,000 labeled training rows)`, 'auto')
    .option('--require-approval', 'promote only after hindsight calibrate approve')
    .option('--approval-timeout <duration>', 'how long to wait for the approval before giving up (not promoted)', 'P7D');
}

export const workflowOptionsSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  environment: z.string().min(1).optional(),
  labelDefinition: z.string().min(1),
  method,
  requireApproval: z.boolean().optional(),
  approvalTimeout: approvalTimeoutSchema,
  json: z.boolean().optional(),
});

export const startOptionsSchema = z.intersection(
  workflowOptionsSchema,
  z.object({
    trainFrom: timestampSchema.optional(),
    trainTo: timestampSchema.optional(),
    holdoutFrom: timestampSchema.optional(),
    holdoutTo: timestampSchema.optional(),
    asOf: timestampSchema.optional(),
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

export const scheduleOptionsSchema = z.intersection(
  workflowOptionsSchema,
  z.object({
    every: isoDurationSchema,
    trainPeriods: periodsSchema,
    holdoutPeriods: periodsSchema,
    scheduleId: z.string().min(1).max(200).optional(),
    allowShortPeriods: z.boolean().optional(),
  }),
);

/** Commander's own message for a required flag that is missing, for options declared optional. */
export function requireFlags(command: string, raw: Record<string, unknown>, flags: Record<string, string>): void {
  for (const [key, flag] of Object.entries(flags))
    if (raw[key] === undefined) throw new UsageError(`${command}: required option '${flag}' not specified`);
}

export function workflowInput(options: z.output<typeof workflowOptionsSchema>): Omit<RecalibrationInput, 'ranges' | 'recent'> {
  return {
    model: { name: options.model, version: options.version, environment: options.environment ?? null },
    labelDefinition: options.labelDefinition,
    method: options.method,
    requireApproval: Boolean(options.requireApproval),
    approvalTimeoutMs: fixedDurationMs(options.approvalTimeout)!,
  };
}

export function describeState(workflowId: string, status: string, state: RecalibrationState): string {
  const c = state.calibrator;
  return [
    `${workflowId}: ${status}, ${state.phase}`,
    ...(state.plan
      ? [
          `  ${state.plan.labelDefinition} · train [${state.plan.train.from}, ${state.plan.train.to}) ` +
            `· held out [${state.plan.holdout.from}, ${state.plan.holdout.to}) · labels as of ${state.asOf}`,
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
export async function readState(client: Client, workflowId: string): Promise<{ status: string; state: RecalibrationState }> {
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

/** Registers start, approve, reject, status and list on the `calibrate` group. */
export function registerRecalibrationCommands(group: Command, setExit: (code: number) => void): void {
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
    .option(
      '--as-of <iso>',
      'read the labels known at this moment, and with --every count the periods back from it (default: when the workflow starts)',
    )
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
      let input: RecalibrationInput = {
        ...workflowInput(options),
        ...(options.asOf === undefined ? {} : { asOf: options.asOf }),
        trigger: 'manual',
      };
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

  for (const verb of ['approve', 'reject'] as const) {
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
          const handle = client.workflow.getHandle(options.workflowId);
          const { taskQueue } = await handle.describe();
          try {
            await decide(client, handle, decideCalibratorUpdate, [{ kind: verb, by, note: options.note ?? null }], taskQueue);
          } catch (error) {
            // Another decision came first and the workflow ended before this one reached it.
            if (!(error instanceof Error && error.name === 'WorkflowNotFoundError')) throw error;
            const after = await readState(client, options.workflowId);
            throw new UsageError(
              `calibrate ${verb}: ${options.workflowId} is ${after.status.toLowerCase()} in phase ${after.state.phase}, ` +
                'not awaiting approval: another decision came first',
            );
          }
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
}
