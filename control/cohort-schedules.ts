import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { fixedDurationMs } from '../contracts/iso-duration';
import type { LabelDefinition } from '../contracts/label-definition';
import { explainSearchAttributeError } from './search-attributes';
import type { ModelRef } from '../contracts/model';
import { SCHEDULED_COHORT_WORKFLOW } from '../contracts/workflow-names';
import { cohortIdFor } from '../contracts/cohort';
import {
  MAX_BACKFILL_PERIODS,
  MAX_SCHEDULE_PERIOD_MS,
  MIN_SCHEDULE_PERIOD_MS,
  periodCohort,
  type ScheduledCohortInput,
} from '../contracts/schedules';
import { ControlRequestError } from './errors';

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/** 1970-01-01 was a Thursday; weekly periods start on Mondays, as ISO weeks do. */
const FIRST_MONDAY_MS = 4 * DAY_MS;

export interface SchedulePeriods {
  everyMs: number;
  /** Milliseconds past the epoch (modulo `everyMs`) where periods begin. */
  offsetMs: number;
}

/**
 * The period grid of a schedule. With `--start-at` periods begin there; otherwise whole weeks
 * begin on Mondays and everything else on multiples of the period since the epoch (midnight
 * UTC for days, the hour for hours). Whole seconds only: the server counts in seconds; at
 * least a minute (a schedule that fires every second floods the server and the cohort table)
 * unless `allowShortPeriods`, which tests and demos pass; at most ten years.
 */
export function schedulePeriods(every: string, startAt?: string, options: { allowShortPeriods?: boolean } = {}): SchedulePeriods {
  const everyMs = fixedDurationMs(every);
  if (everyMs === undefined)
    throw new ControlRequestError(
      `schedule: --every ${every} must be a fixed ISO-8601 duration such as P1D, P7D, PT1H or PT30M (months and years vary in length)`,
    );
  if (everyMs < 1_000 || everyMs % 1_000 !== 0)
    throw new ControlRequestError(`schedule: --every ${every} must be a whole number of seconds, at least PT1S`);
  if (everyMs < MIN_SCHEDULE_PERIOD_MS && !options.allowShortPeriods)
    throw new ControlRequestError(
      `schedule: --every ${every} is shorter than the minimum of 1 minute (PT1M); ` +
        `pass --allow-short-periods to allow it (for tests and demos)`,
    );
  if (everyMs > MAX_SCHEDULE_PERIOD_MS) throw new ControlRequestError(`schedule: --every ${every} is longer than the maximum of 10 years`);
  if (startAt !== undefined) {
    const at = Date.parse(startAt);
    if (at % 1_000 !== 0) throw new ControlRequestError(`schedule: --start-at ${startAt} must fall on a whole second`);
    return { everyMs, offsetMs: ((at % everyMs) + everyMs) % everyMs };
  }
  return { everyMs, offsetMs: everyMs % WEEK_MS === 0 ? FIRST_MONDAY_MS % everyMs : 0 };
}

/** The first end and the number of the periods `[t - every, t)` that lie within `[from, to)`, without listing them. */
export function periodEndsSpan(periods: SchedulePeriods, from: number, to: number): { first: number; count: number } {
  const { everyMs, offsetMs } = periods;
  const first = Math.ceil((from + everyMs - offsetMs) / everyMs) * everyMs + offsetMs;
  return { first, count: first > to ? 0 : Math.floor((to - first) / everyMs) + 1 };
}

/** The ends of the periods `[t - every, t)` that lie within `[from, to)`, oldest first. */
export function periodEndsWithin(periods: SchedulePeriods, from: number, to: number): number[] {
  const { first, count } = periodEndsSpan(periods, from, to);
  return Array.from({ length: count }, (_, i) => first + i * periods.everyMs);
}

export interface CohortScheduleRequest {
  scheduleId?: string | undefined;
  model: ModelRef;
  definition: LabelDefinition;
  every: string;
  startAt?: string | undefined;
  taskQueue: string;
  paused?: boolean;
  /** Periods under a minute (tests and demos only). */
  allowShortPeriods?: boolean;
}

/** What `schedule list/describe` read back: kept in the schedule's memo. */
export interface CohortScheduleMemo {
  model_name: string;
  model_version: string;
  environment: string | null;
  label_definition: string;
  every: string;
  every_ms: number;
  offset_ms: number;
  start_at: string | null;
}

export function defaultScheduleId(request: Pick<CohortScheduleRequest, 'model' | 'definition' | 'every'>): string {
  const { model, definition, every } = request;
  return ['schedule', model.name, model.version, model.environment ?? '*', `${definition.name}@${definition.version}`, every].join('/');
}

/**
 * A Temporal Schedule whose every action runs `scheduledCohort`, which opens the cohort of the
 * period that just ended. Nothing polls: the server keeps the clock.
 */
export async function createCohortSchedule(
  client: Client,
  request: CohortScheduleRequest,
): Promise<{ schedule_id: string; memo: CohortScheduleMemo }> {
  const periods = schedulePeriods(request.every, request.startAt, { allowShortPeriods: request.allowShortPeriods });
  const scheduleId = request.scheduleId ?? defaultScheduleId(request);
  const { definition } = request;
  const input: ScheduledCohortInput = {
    scheduleId,
    model: request.model,
    labelDefinition: {
      name: definition.name,
      version: definition.version,
      window: definition.window,
      checkpoints: definition.checkpoints,
      late_label_grace: definition.late_label_grace,
    },
    every: request.every,
    everyMs: periods.everyMs,
  };
  const memo: CohortScheduleMemo = {
    model_name: request.model.name,
    model_version: request.model.version,
    environment: request.model.environment,
    label_definition: `${definition.name}@${definition.version}`,
    every: request.every,
    every_ms: periods.everyMs,
    offset_ms: periods.offsetMs,
    start_at: request.startAt ?? null,
  };
  try {
    await client.schedule.create({
      scheduleId,
      // The first action closes the first whole period that begins at --start-at.
      spec: {
        intervals: [{ every: periods.everyMs, offset: periods.offsetMs }],
        ...(request.startAt ? { startAt: new Date(Date.parse(request.startAt) + periods.everyMs) } : {}),
      },
      action: {
        type: 'startWorkflow',
        workflowType: SCHEDULED_COHORT_WORKFLOW,
        // The server appends each action's nominal time to this id.
        workflowId: scheduleId,
        taskQueue: request.taskQueue,
        args: [input],
        staticSummary: `open the ${request.every} cohort of ${request.model.name} ${request.model.version} · ${memo.label_definition}`,
      },
      policies: {
        // Each action only opens a cohort whose id is its workflow id, so actions never need to
        // wait for one another; SKIP or BUFFER would drop or delay a period's cohort whenever an
        // earlier action is still running (a worker down), and the cohort id already dedupes.
        overlap: ScheduleOverlapPolicy.ALLOW_ALL,
        // After a server outage, every period missed within a year is still opened (once each);
        // past that, `schedule backfill` opens them explicitly.
        catchupWindow: '365 days',
        pauseOnFailure: false,
      },
      memo: { hindsight: memo },
      state: { paused: Boolean(request.paused) },
    });
  } catch (error) {
    if (error instanceof ScheduleAlreadyRunning)
      throw new ControlRequestError(`schedule ${scheduleId} exists already; pass --schedule-id to create another`);
    throw explainSearchAttributeError(error);
  }
  return { schedule_id: scheduleId, memo };
}

/** The Hindsight part of a schedule's memo, or an error naming a schedule Hindsight did not make. */
export function readScheduleMemo(scheduleId: string, memo: Record<string, unknown> | undefined): CohortScheduleMemo {
  const hindsight = memo?.hindsight as CohortScheduleMemo | undefined;
  if (!hindsight) throw new ControlRequestError(`schedule ${scheduleId} was not created by hindsight schedule create`);
  return hindsight;
}

/** The period that the action with nominal time `end` opens, and its cohort's id. */
export function periodOf(memo: CohortScheduleMemo, end: number): { start: string; end: string; cohort_id: string } {
  const [name, version] = memo.label_definition.split('@');
  const selector = periodCohort({ name: memo.model_name, version: memo.model_version, environment: memo.environment }, memo.every_ms, end);
  return { start: selector.start, end: selector.end, cohort_id: cohortIdFor(selector, { name: name!, version: Number(version) }) };
}

export interface ScheduleView {
  schedule_id: string;
  paused: boolean;
  note: string | null;
  model_name: string;
  model_version: string;
  environment: string | null;
  label_definition: string;
  every: string;
  start_at: string | null;
  actions_taken: number;
  recent_actions: Array<{
    nominal_time: string;
    taken_at: string;
    workflow_id: string;
    cohort_id: string;
    period: { start: string; end: string };
  }>;
  upcoming_actions: Array<{ nominal_time: string; cohort_id: string; period: { start: string; end: string } }>;
}

export function viewSchedule(description: ScheduleDescription): ScheduleView {
  const memo = readScheduleMemo(description.scheduleId, description.memo);
  const action = (at: Date) => {
    const { start, end, cohort_id } = periodOf(memo, at.getTime());
    return { nominal_time: at.toISOString(), cohort_id, period: { start, end } };
  };
  return {
    schedule_id: description.scheduleId,
    paused: description.state.paused,
    note: description.state.note ?? null,
    model_name: memo.model_name,
    model_version: memo.model_version,
    environment: memo.environment,
    label_definition: memo.label_definition,
    every: memo.every,
    start_at: memo.start_at,
    actions_taken: description.info.numActionsTaken,
    recent_actions: description.info.recentActions.map((taken) => ({
      ...action(taken.scheduledAt),
      taken_at: taken.takenAt.toISOString(),
      workflow_id: taken.action.workflow.workflowId,
    })),
    upcoming_actions: description.info.nextActionTimes.map(action),
  };
}

export interface BackfillPlan {
  schedule_id: string;
  /** How many periods are opened, and the first and last of them (null when none). */
  period_count: number;
  from: string;
  to: string;
  first_period: { start: string; end: string; cohort_id: string } | null;
  last_period: { start: string; end: string; cohort_id: string } | null;
  skipped_before_start_at: number;
  /** Every period, oldest first; only when asked for (`--json`): a long backfill has many. */
  periods?: Array<{ start: string; end: string; cohort_id: string }>;
}

/**
 * The periods of `[from, to)` a backfill opens, counted without listing them; more than
 * {@link MAX_BACKFILL_PERIODS} are refused unless `force` (a range from year 1 asks the
 * server for hundreds of thousands of workflows).
 */
export function planBackfill(
  scheduleId: string,
  memo: CohortScheduleMemo,
  from: string,
  to: string,
  options: { force?: boolean; listPeriods?: boolean } = {},
): BackfillPlan & { ends: { first: number; last: number } | null } {
  const periods = { everyMs: memo.every_ms, offsetMs: memo.offset_ms };
  const all = periodEndsSpan(periods, Date.parse(from), Date.parse(to));
  // The spec opens nothing before --start-at, backfills included: only periods that start at or after it.
  const startAt = memo.start_at ? Date.parse(memo.start_at) : -Infinity;
  const opened = periodEndsSpan(periods, Math.max(Date.parse(from), startAt), Date.parse(to));
  if (opened.count > MAX_BACKFILL_PERIODS && !options.force)
    throw new ControlRequestError(
      `schedule backfill: [${from}, ${to}) holds ${opened.count.toLocaleString('en-US')} periods of ${memo.every}, ` +
        `more than ${MAX_BACKFILL_PERIODS.toLocaleString('en-US')}; narrow --from and --to, or pass --force to open them all`,
    );
  const last = opened.first + (opened.count - 1) * memo.every_ms;
  return {
    schedule_id: scheduleId,
    period_count: opened.count,
    from,
    to,
    first_period: opened.count > 0 ? periodOf(memo, opened.first) : null,
    last_period: opened.count > 0 ? periodOf(memo, last) : null,
    skipped_before_start_at: all.count - opened.count,
    ...(options.listPeriods
      ? { periods: Array.from({ length: opened.count }, (_, i) => periodOf(memo, opened.first + i * memo.every_ms)) }
      : {}),
    ends: opened.count > 0 ? { first: opened.first, last } : null,
  };
}

/**
 * Opens every period that lies within `[from, to)`. The server backfills nominal times in
 * `[start, end]`, so the range passed is exactly the first to the last period end.
 */
export async function backfillCohortSchedule(
  client: Client,
  scheduleId: string,
  from: string,
  to: string,
  options: { force?: boolean; listPeriods?: boolean } = {},
): Promise<BackfillPlan> {
  const handle = client.schedule.getHandle(scheduleId);
  const memo = readScheduleMemo(scheduleId, (await handle.describe()).memo);
  const { ends, ...plan } = planBackfill(scheduleId, memo, from, to, options);
  if (ends) await handle.backfill({ start: new Date(ends.first), end: new Date(ends.last), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
  return plan;
}
