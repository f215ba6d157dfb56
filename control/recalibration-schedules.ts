import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { explainSearchAttributeError } from './search-attributes';
import { RECALIBRATION_WORKFLOW } from '../contracts/workflow-names';
import type { RecalibrationInput } from '../contracts/recalibration';
import { recalibrationSummary } from '../contracts/recalibration';
import { schedulePeriods } from './cohort-schedules';
import { ControlRequestError } from './errors';

export interface RecalibrationScheduleRequest {
  scheduleId?: string | undefined;
  input: Omit<RecalibrationInput, 'recent' | 'ranges' | 'asOf' | 'trigger'>;
  every: string;
  trainPeriods: number;
  holdoutPeriods: number;
  taskQueue: string;
  /** Periods under a minute (tests and demos only). */
  allowShortPeriods?: boolean;
}

/** What `calibrate schedule` prints, and the schedule's memo. */
export interface RecalibrationScheduleMemo {
  model_name: string;
  model_version: string;
  label_definition: string;
  every: string;
  train_periods: number;
  holdout_periods: number;
  method: string;
  require_approval: boolean;
}

export function defaultRecalibrationScheduleId(request: RecalibrationScheduleRequest): string {
  const { model, labelDefinition } = request.input;
  return ['recalibration-schedule', model.name, model.version, model.environment ?? '*', labelDefinition, request.every].join('/');
}

/**
 * A Temporal Schedule whose every action runs a recalibration over the last whole periods
 * finalized at the action's nominal time: `holdoutPeriods` held out, the `trainPeriods`
 * before them to fit on. The action's workflow id is the schedule id plus its nominal time
 * (the server appends it), so each action fits one calibrator version.
 */
export async function createRecalibrationSchedule(
  client: Client,
  request: RecalibrationScheduleRequest,
): Promise<{ schedule_id: string; memo: RecalibrationScheduleMemo }> {
  const periods = schedulePeriods(request.every, undefined, { allowShortPeriods: request.allowShortPeriods });
  const scheduleId = request.scheduleId ?? defaultRecalibrationScheduleId(request);
  const input: RecalibrationInput = {
    ...request.input,
    recent: { every: request.every, everyMs: periods.everyMs, trainPeriods: request.trainPeriods, holdoutPeriods: request.holdoutPeriods },
    trigger: `schedule ${scheduleId}`,
  };
  const memo: RecalibrationScheduleMemo = {
    model_name: input.model.name,
    model_version: input.model.version,
    label_definition: input.labelDefinition,
    every: request.every,
    train_periods: request.trainPeriods,
    holdout_periods: request.holdoutPeriods,
    method: input.method ?? 'auto',
    require_approval: Boolean(input.requireApproval),
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: periods.everyMs, offset: periods.offsetMs }] },
      action: {
        type: 'startWorkflow',
        workflowType: RECALIBRATION_WORKFLOW,
        workflowId: scheduleId,
        taskQueue: request.taskQueue,
        args: [input],
        staticSummary: `${recalibrationSummary(input)} · every ${request.every}`,
      },
      policies: {
        // A recalibration awaiting approval must not hold back the next period's.
        overlap: ScheduleOverlapPolicy.ALLOW_ALL,
        // After an outage, only the latest missed action matters: each fits on the newest periods.
        catchupWindow: Math.max(periods.everyMs, 60_000),
        pauseOnFailure: false,
      },
      memo: { hindsight_recalibration: memo },
    });
  } catch (error) {
    if (error instanceof ScheduleAlreadyRunning)
      throw new ControlRequestError(`schedule ${scheduleId} exists already; pass --schedule-id to create another`);
    throw explainSearchAttributeError(error);
  }
  return { schedule_id: scheduleId, memo };
}
