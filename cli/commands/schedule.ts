import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { timestampSchema } from '../../contracts/records';
import { isoDurationSchema } from '../../contracts/iso-duration';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { loadEnv } from '../../workers/env';
import { backfillCohortSchedule, createCohortSchedule, schedulePeriods, type ScheduleView } from '../../control/cohort-schedules';
import {
  type HindsightScheduleView,
  type OtherScheduleView,
  requireScheduleKind,
  scheduleKindOf,
  scheduleMemo,
  viewHindsightSchedule,
} from '../../control/schedules';
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
  allowShortPeriods: z.boolean().optional(),
  json: z.boolean().optional(),
});

const backfillOptionsSchema = z
  .object({ from: timestampSchema, to: timestampSchema, force: z.boolean().optional(), json: z.boolean().optional() })
  .refine((o) => o.from < o.to, { path: ['from'], message: 'must be before --to' });

function describeOther(view: OtherScheduleView): string {
  const facts = Object.entries(view)
    .filter(([key]) => !OTHER_VIEW_FIELDS.has(key))
    .map(([key, value]) => `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [
    `${view.schedule_id} (${view.kind})${view.paused ? ' (paused)' : ''}`,
    ...(facts.length > 0 ? [`  ${facts.join(' · ')}`] : []),
    `  ${view.actions_taken} actions taken${view.note ? ` · note: ${view.note}` : ''}`,
    ...view.recent_actions.map((a) => `  taken ${a.taken_at} for ${a.nominal_time}  ${a.workflow_id}`),
    ...view.upcoming_actions.map((a) => `  next ${a.nominal_time}`),
  ].join('\n');
}

const OTHER_VIEW_FIELDS = new Set([
  'schedule_id',
  'kind',
  'paused',
  'note',
  'workflow_type',
  'every_ms',
  'actions_taken',
  'recent_actions',
  'upcoming_actions',
]);

function describeHindsightSchedule(view: HindsightScheduleView): string {
  return view.kind === 'cohort' ? describeView(view) : describeOther(view);
}

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
    .requiredOption(
      '--every <duration>',
      'period length: P1D, P7D, PT1H, PT30M, … at least PT1M (weeks start on Mondays, days at midnight UTC)',
    )
    .option('--allow-short-periods', 'allow --every under a minute (tests and demos)')
    .option('--start-at <iso>', 'periods begin here instead (the first one ends at start-at + every)')
    .option('--schedule-id <id>', 'schedule id (default: schedule/MODEL/VERSION/ENV/DEFINITION@V/EVERY)')
    .option('--paused', 'create it paused')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(createOptionsSchema, raw, 'schedule create');
      // The period is checked before the database or Temporal is asked anything.
      schedulePeriods(options.every, options.startAt, { allowShortPeriods: options.allowShortPeriods });
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
          allowShortPeriods: Boolean(options.allowShortPeriods),
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
    .description('the schedules Hindsight created: cohort schedules, recalibration schedules and feed watches')
    .option('--model <name>', 'only this model')
    .option('--json', 'print one JSON document')
    .action(async (options: { model?: string; json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const schedules = await withTemporalClient(loadEnv(), async (client) => {
        const found: Array<Record<string, unknown>> = [];
        for await (const summary of client.schedule.list()) {
          const kind = scheduleKindOf(summary);
          if (!kind) continue;
          const memo = scheduleMemo(kind, summary.memo);
          if (options.model && memo.model_name !== options.model) continue;
          found.push({
            schedule_id: summary.scheduleId,
            kind,
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
              .map(
                (s) =>
                  `${s.schedule_id} (${String(s.kind)})${s.paused ? ' (paused)' : ''}  next ${(s.next_action_times as string[])[0] ?? '—'}`,
              )
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
      const view = await onSchedule(scheduleId, async (client) =>
        viewHindsightSchedule(await client.schedule.getHandle(scheduleId).describe()),
      );
      out.result(view, () => describeHindsightSchedule(view));
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
          ? 'stop taking actions (opening cohorts, recalibrating, checking feeds) until unpaused; running workflows go on'
          : 'take actions again from the next period on (missed cohorts: schedule backfill)',
      )
      .action(async (scheduleId: string, options: { note?: string; json?: boolean }) => {
        const out = createOutput(Boolean(options.json));
        await onSchedule(scheduleId, async (client) => {
          const handle = client.schedule.getHandle(scheduleId);
          requireScheduleKind(scheduleId, await handle.describe());
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
    .description('delete a schedule (cohort, recalibration or feed watch); the workflows it started keep running to their end')
    .action(async (scheduleId: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const kind = await onSchedule(scheduleId, async (client) => {
        const handle = client.schedule.getHandle(scheduleId);
        const found = requireScheduleKind(scheduleId, await handle.describe());
        await handle.delete();
        return found;
      });
      out.result(
        { schedule_id: scheduleId, kind, deleted: true },
        () => `deleted ${scheduleId}; the ${kind === 'cohort' ? 'cohorts it opened' : 'workflows it started'} keep running`,
      );
      setExit(EXIT.ok);
    });

  group
    .command('backfill')
    .argument('<schedule-id>')
    .requiredOption('--from <iso>', 'open every period that begins at or after this')
    .requiredOption('--to <iso>', 'and ends at or before this')
    .option('--force', 'open more than 1,000 periods')
    .option('--json', 'print one JSON document (with every period)')
    .description(
      'open the cohorts of every period within [from, to) (at most 1,000 without --force); ' +
        'past checkpoints evaluate at once, as of their own time',
    )
    .action(async (scheduleId: string, raw: Record<string, unknown>) => {
      const options = parseOptions(backfillOptionsSchema, raw, 'schedule backfill');
      const out = createOutput(Boolean(options.json));
      const result = await onSchedule(scheduleId, async (client) => {
        const kind = requireScheduleKind(scheduleId, await client.schedule.getHandle(scheduleId).describe());
        if (kind !== 'cohort')
          throw new UsageError(`schedule backfill: ${scheduleId} is a ${kind} schedule; only cohort schedules open past periods`);
        return backfillCohortSchedule(client, scheduleId, options.from, options.to, {
          force: Boolean(options.force),
          listPeriods: Boolean(options.json),
        });
      });
      const span = (p: { start: string; end: string; cohort_id: string } | null) => (p ? `[${p.start}, ${p.end})  ${p.cohort_id}` : '');
      out.result(result, () =>
        [
          `backfilling ${result.period_count} period${result.period_count === 1 ? '' : 's'} of ${scheduleId}` +
            (result.period_count > 0 ? ` from ${result.first_period!.start} to ${result.last_period!.end}` : ''),
          ...(result.period_count > 0 ? [`  first ${span(result.first_period)}`] : []),
          ...(result.period_count > 1 ? [`  last  ${span(result.last_period)}`] : []),
          ...(result.skipped_before_start_at > 0
            ? [`  ${result.skipped_before_start_at} period(s) before the schedule's --start-at are never opened`]
            : []),
        ].join('\n'),
      );
      setExit(EXIT.ok);
    });
}
