import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { timestampSchema } from '../../contracts/records';
import { isoDurationSchema } from '../../contracts/iso-duration';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { loadEnv } from '../../workers/env';
import {
  backfillCohortSchedule,
  createCohortSchedule,
  readScheduleMemo,
  viewSchedule,
  type ScheduleView,
} from '../../control/cohort-schedules';
import { withDatabase, withTemporalClient } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

const createOptionsSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  environment: z.string().min(1).optional(),
  labelDefinition: z.string().min(1),
  every: isoDurationSchema,
  startAt: timestampSchema.optional(),
  scheduleId: z.string().min(1).max(200).optional(),
  paused: z.boolean().optional(),
  json: z.boolean().optional(),
});

const backfillOptionsSchema = z
  .object({ from: timestampSchema, to: timestampSchema, json: z.boolean().optional() })
  .refine((o) => o.from < o.to, { path: ['from'], message: 'must be before --to' });

function describeView(view: ScheduleView): string {
  const lines = [
    `${view.schedule_id}${view.paused ? ' (paused)' : ''}`,
    `  ${view.model_name} ${view.model_version}${view.environment ? ` (${view.environment})` : ''} · ${view.label_definition} ` +
      `· every ${view.every}${view.start_at ? ` from ${view.start_at}` : ''}`,
    `  ${view.actions_taken} actions taken${view.note ? ` · note: ${view.note}` : ''}`,
  ];
  if (view.recent_actions.length > 0)
    lines.push(
      '  recent:',
      ...view.recent_actions.map((a) => `    [${a.period.start}, ${a.period.end})  taken ${a.taken_at}  ${a.cohort_id}`),
    );
  if (view.upcoming_actions.length > 0)
    lines.push('  upcoming:', ...view.upcoming_actions.map((a) => `    [${a.period.start}, ${a.period.end})  at ${a.nominal_time}`));
  return lines.join('\n');
}

/** Runs `work` on a schedule, turning "not found" into a message that names it. */
async function onSchedule<T>(scheduleId: string, work: (client: Client) => Promise<T>): Promise<T> {
  return withTemporalClient(loadEnv(), async (client) => {
    try {
      return await work(client);
    } catch (error) {
      if (error instanceof ScheduleNotFoundError)
        throw new UsageError(`schedule ${scheduleId} not found; list them with: hindsight schedule list`);
      throw error;
    }
  });
}

export function registerSchedule(program: Command, setExit: (code: number) => void): void {
  const group = program.command('schedule').description('Temporal Schedules that open one cohort per period (daily, weekly, …)');

  group
    .command('create')
    .description('create a schedule whose every action opens the cohort of the period that just ended')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version')
    .option('--environment <env>', 'only predictions from this environment')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION (the latest version when omitted, fixed at creation)')
    .requiredOption('--every <duration>', 'period length: P1D, P7D, PT1H, PT30S, … (weeks start on Mondays, days at midnight UTC)')
    .option('--start-at <iso>', 'periods begin here instead (the first one ends at start-at + every)')
    .option('--schedule-id <id>', 'schedule id (default: schedule/MODEL/VERSION/ENV/DEFINITION@V/EVERY)')
    .option('--paused', 'create it paused')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(createOptionsSchema, raw, 'schedule create');
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const definition = await withDatabase((db) =>
        getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), options.model),
      );
      const created = await withTemporalClient(env, (client) =>
        createCohortSchedule(client, {
          scheduleId: options.scheduleId,
          model: { name: options.model, version: options.version, environment: options.environment ?? null },
          definition,
          every: options.every,
          startAt: options.startAt,
          taskQueue: env.HINDSIGHT_TASK_QUEUE,
          paused: Boolean(options.paused),
        }),
      );
      out.result(
        { schedule_id: created.schedule_id, ...created.memo },
        () => `created ${created.schedule_id}: one cohort of ${options.model} ${options.version} every ${options.every}`,
      );
      setExit(EXIT.ok);
    });

  group
    .command('list')
    .description('the schedules Hindsight created')
    .option('--model <name>', 'only this model')
    .option('--json', 'print one JSON document')
    .action(async (options: { model?: string; json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const schedules = await withTemporalClient(loadEnv(), async (client) => {
        const found: Array<Record<string, unknown>> = [];
        for await (const summary of client.schedule.list()) {
          const memo = summary.memo?.hindsight ? readScheduleMemo(summary.scheduleId, summary.memo) : undefined;
          if (!memo || (options.model && memo.model_name !== options.model)) continue;
          found.push({
            schedule_id: summary.scheduleId,
            paused: summary.state.paused,
            ...memo,
            next_action_times: summary.info.nextActionTimes.map((t) => t.toISOString()),
          });
        }
        return found.sort((a, b) => String(a.schedule_id).localeCompare(String(b.schedule_id)));
      });
      out.result({ schedules }, () =>
        schedules.length === 0
          ? 'no schedules'
          : schedules
              .map((s) => `${s.schedule_id}${s.paused ? ' (paused)' : ''}  next ${(s.next_action_times as string[])[0] ?? '—'}`)
              .join('\n'),
      );
      setExit(EXIT.ok);
    });

  group
    .command('describe')
    .argument('<schedule-id>')
    .description('a schedule with its recent actions (and the cohorts they opened) and its upcoming ones')
    .option('--json', 'print one JSON document')
    .action(async (scheduleId: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const view = await onSchedule(scheduleId, async (client) => viewSchedule(await client.schedule.getHandle(scheduleId).describe()));
      out.result(view, () => describeView(view));
      setExit(EXIT.ok);
    });

  for (const [verb, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const) {
    group
      .command(verb)
      .argument('<schedule-id>')
      .option('--note <text>', 'why, shown with the schedule')
      .option('--json', 'print one JSON document')
      .description(
        paused
          ? 'stop opening cohorts until unpaused (running cohorts go on)'
          : 'open cohorts again from the next period on (missed ones: schedule backfill)',
      )
      .action(async (scheduleId: string, options: { note?: string; json?: boolean }) => {
        const out = createOutput(Boolean(options.json));
        await onSchedule(scheduleId, async (client) => {
          const handle = client.schedule.getHandle(scheduleId);
          readScheduleMemo(scheduleId, (await handle.describe()).memo);
          await (paused ? handle.pause(options.note) : handle.unpause(options.note));
        });
        out.result({ schedule_id: scheduleId, paused }, () => `${paused ? 'paused' : 'unpaused'} ${scheduleId}`);
        setExit(EXIT.ok);
      });
  }

  group
    .command('delete')
    .argument('<schedule-id>')
    .option('--json', 'print one JSON document')
    .description('delete a schedule; the cohorts it opened keep running to their end')
    .action(async (scheduleId: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      await onSchedule(scheduleId, async (client) => {
        const handle = client.schedule.getHandle(scheduleId);
        readScheduleMemo(scheduleId, (await handle.describe()).memo);
        await handle.delete();
      });
      out.result({ schedule_id: scheduleId, deleted: true }, () => `deleted ${scheduleId}; the cohorts it opened keep running`);
      setExit(EXIT.ok);
    });

  group
    .command('backfill')
    .argument('<schedule-id>')
    .requiredOption('--from <iso>', 'open every period that begins at or after this')
    .requiredOption('--to <iso>', 'and ends at or before this')
    .option('--json', 'print one JSON document')
    .description('open the cohorts of every period within [from, to); past checkpoints evaluate at once, as of their own time')
    .action(async (scheduleId: string, raw: Record<string, unknown>) => {
      const options = parseOptions(backfillOptionsSchema, raw, 'schedule backfill');
      const out = createOutput(Boolean(options.json));
      const result = await onSchedule(scheduleId, (client) => backfillCohortSchedule(client, scheduleId, options.from, options.to));
      out.result(result, () =>
        [
          `backfilling ${result.periods.length} period${result.periods.length === 1 ? '' : 's'} of ${scheduleId}`,
          ...result.periods.map((p) => `  [${p.start}, ${p.end})  ${p.cohort_id}`),
          ...(result.skipped_before_start_at > 0
            ? [`  ${result.skipped_before_start_at} period(s) before the schedule's --start-at are never opened`]
            : []),
        ].join('\n'),
      );
      setExit(EXIT.ok);
    });
}
