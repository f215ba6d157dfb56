import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { getRecalibrationStateQuery, getStatusQuery } from '../../workflows';
import type { CohortStatus } from '../../contracts/lifecycle';
import type { RecalibrationState } from '../../contracts/recalibration';
import { workflowState } from '../../control/workflow-state';
import type { Knex } from 'knex';
import { pendingNotifications } from '../../activities/delivery/outbox';

const POLL_MS = 1_000;

/**
 * A cohort has caught up with the clock when it is closed or sleeps until a moment still to
 * come: every checkpoint already past has its snapshot and its judgement.
 */
function caughtUp(status: CohortStatus, now: number): boolean {
  return status.phase === 'closed' || (status.nextWakeAt !== null && Date.parse(status.nextWakeAt) > now);
}

async function cohortStatus(client: Client, cohortId: string): Promise<CohortStatus | null> {
  const handle = client.workflow.getHandle(cohortId);
  try {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING' && status.name !== 'COMPLETED')
      throw new Error(`cohort ${cohortId} ended ${status.name.toLowerCase()}; see it in the Web UI`);
    return await workflowState(handle, status.name, getStatusQuery);
  } catch (error) {
    // A schedule action that has not run yet has not started the cohort.
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** Waits until every cohort has caught up with the clock; `progress` hears how many have. */
export async function waitForCohorts(
  client: Client,
  cohortIds: readonly string[],
  progress: (settled: number, total: number) => void,
  timeoutMs: number,
): Promise<Map<string, CohortStatus>> {
  const settled = new Map<string, CohortStatus>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const id of cohortIds) {
      if (settled.has(id)) continue;
      const status = await cohortStatus(client, id);
      if (status && caughtUp(status, Date.now())) settled.set(id, status);
    }
    progress(settled.size, cohortIds.length);
    if (settled.size === cohortIds.length) return settled;
    if (Date.now() > deadline) {
      const waiting = cohortIds.filter((id) => !settled.has(id));
      throw new Error(`${waiting.length} cohort(s) still evaluating after ${Math.round(timeoutMs / 1000)} s, e.g. ${waiting[0]}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Waits for a cohort to close (the live one), or until the deadline; returns its last status. */
export async function waitForClose(
  client: Client,
  cohortId: string,
  deadline: number,
  progress: (status: CohortStatus) => void,
): Promise<CohortStatus | null> {
  for (;;) {
    const status = await cohortStatus(client, cohortId);
    if (status) progress(status);
    if (status?.phase === 'closed' || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export interface RecalibrationRun {
  workflowId: string;
  state: RecalibrationState;
}

const WORKING = new Set(['planning', 'fitting', 'promoting']);

/**
 * The model's recalibration workflows once each has finished working (promoted, not improved,
 * awaiting an operator's approval, …), or as they stand at the deadline.
 */
export async function waitForRecalibrations(client: Client, model: string, deadline: number): Promise<RecalibrationRun[]> {
  for (;;) {
    const runs: RecalibrationRun[] = [];
    for await (const execution of client.workflow.list({ query: `WorkflowType = 'recalibration' AND ModelName = '${model}'` })) {
      const handle = client.workflow.getHandle(execution.workflowId);
      if (execution.status.name !== 'RUNNING' && execution.status.name !== 'COMPLETED')
        throw new Error(`recalibration ${execution.workflowId} ended ${execution.status.name.toLowerCase()}; see it in the Web UI`);
      const state = await workflowState(handle, execution.status.name, getRecalibrationStateQuery);
      runs.push({ workflowId: execution.workflowId, state });
    }
    if (runs.every((run) => !WORKING.has(run.state.phase)) || Date.now() > deadline) return runs;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Waits until the alert outbox has nothing pending (every delivery workflow is done), or the deadline. */
export async function waitForDeliveries(db: Knex, deadline: number): Promise<number> {
  for (;;) {
    const pending = await pendingNotifications(db, undefined);
    if (pending === 0 || Date.now() > deadline) return pending;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
