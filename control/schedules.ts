/**
 * Every Temporal Schedule Hindsight makes, whatever opened it: cohort schedules (`schedule
 * create`), recalibration schedules (`calibrate schedule`) and feed watches (`policy watch`).
 * `schedule describe|pause|unpause|delete|list` work on all three through these functions.
 */
import type { ScheduleDescription, ScheduleSummary } from '@temporalio/client';
import { FEED_WATCH_WORKFLOW, RECALIBRATION_WORKFLOW, SCHEDULED_COHORT_WORKFLOW } from '../contracts/workflow-names';
import { viewSchedule, type ScheduleView } from './cohort-schedules';
import { ControlRequestError } from './errors';

export const SCHEDULE_KINDS = ['cohort', 'recalibration', 'feed-watch'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** The memo key each kind keeps its facts under (feed watches made before it carry none). */
export const SCHEDULE_MEMO_KEYS: Record<ScheduleKind, string> = {
  cohort: 'hindsight',
  recalibration: 'hindsight_recalibration',
  'feed-watch': 'hindsight_feed_watch',
};

const KIND_OF_WORKFLOW: Record<string, ScheduleKind> = {
  [SCHEDULED_COHORT_WORKFLOW]: 'cohort',
  [RECALIBRATION_WORKFLOW]: 'recalibration',
  [FEED_WATCH_WORKFLOW]: 'feed-watch',
};

/** What makes a schedule Hindsight's: its memo, else the workflow its actions start. */
export function scheduleKindOf(schedule: Pick<ScheduleSummary, 'memo' | 'action'>): ScheduleKind | undefined {
  for (const kind of SCHEDULE_KINDS) if (schedule.memo?.[SCHEDULE_MEMO_KEYS[kind]]) return kind;
  const workflowType = schedule.action?.type === 'startWorkflow' ? schedule.action.workflowType : undefined;
  return workflowType === undefined ? undefined : KIND_OF_WORKFLOW[workflowType];
}

/** The kind of a schedule, or an error naming one Hindsight did not make. */
export function requireScheduleKind(scheduleId: string, schedule: Pick<ScheduleSummary, 'memo' | 'action'>): ScheduleKind {
  const kind = scheduleKindOf(schedule);
  if (!kind)
    throw new ControlRequestError(
      `schedule ${scheduleId} was not made by Hindsight (schedule create, calibrate schedule or policy watch); ` +
        'manage it with the temporal CLI or the Web UI',
    );
  return kind;
}

/** The Hindsight facts in a schedule's memo (empty for a feed watch made before feed watches had one). */
export function scheduleMemo(kind: ScheduleKind, memo: Record<string, unknown> | undefined): Record<string, unknown> {
  const value = memo?.[SCHEDULE_MEMO_KEYS[kind]];
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** A schedule that opens no cohorts: its memo, its period and its actions. */
export interface OtherScheduleView {
  schedule_id: string;
  kind: Exclude<ScheduleKind, 'cohort'>;
  paused: boolean;
  note: string | null;
  workflow_type: string | null;
  every_ms: number | null;
  actions_taken: number;
  recent_actions: Array<{ nominal_time: string; taken_at: string; workflow_id: string }>;
  upcoming_actions: Array<{ nominal_time: string }>;
  [fact: string]: unknown;
}

export type HindsightScheduleView = (ScheduleView & { kind: 'cohort' }) | OtherScheduleView;

export function viewHindsightSchedule(description: ScheduleDescription): HindsightScheduleView {
  const kind = requireScheduleKind(description.scheduleId, description);
  if (kind === 'cohort') return { kind, ...viewSchedule(description) };
  const interval = description.spec.intervals?.[0];
  return {
    schedule_id: description.scheduleId,
    kind,
    ...scheduleMemo(kind, description.memo),
    paused: description.state.paused,
    note: description.state.note ?? null,
    workflow_type: description.action.type === 'startWorkflow' ? description.action.workflowType : null,
    every_ms: interval ? Number(interval.every) : null,
    actions_taken: description.info.numActionsTaken,
    recent_actions: description.info.recentActions.map((taken) => ({
      nominal_time: taken.scheduledAt.toISOString(),
      taken_at: taken.takenAt.toISOString(),
      workflow_id: taken.action.workflow.workflowId,
    })),
    upcoming_actions: description.info.nextActionTimes.map((at) => ({ nominal_time: at.toISOString() })),
  };
}
