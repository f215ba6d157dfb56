import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { cohortIdFor, type CohortRecord } from '../activities/cohorts';
import type { CohortSelector } from '../activities/evaluate-cohort';
import type { LabelDefinition } from '../activities/label-definitions';
import { cohortLifecycle } from '../workflows';

export interface StartedCohort {
  cohort_id: string;
  workflow_id: string;
  run_id: string | null;
  already_started: boolean;
}

/**
 * Starts a cohort's lifecycle with the cohort id as workflow id, so starting the same cohort
 * twice is a no-op; the summary is what operators see in the Web UI's workflow list.
 */
export async function startCohortLifecycle(
  client: Client,
  taskQueue: string,
  selector: CohortSelector,
  definition: LabelDefinition,
  options: { lateLabelChecks?: number } = {},
): Promise<StartedCohort> {
  const cohortId = cohortIdFor(selector, definition);
  const cohort: CohortRecord = { ...selector, cohort_id: cohortId, label_definition_name: definition.name, label_definition_version: definition.version };
  try {
    const handle = await client.workflow.start(cohortLifecycle, {
      taskQueue,
      workflowId: cohortId,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `${selector.model_name} ${selector.model_version}${selector.environment ? ` (${selector.environment})` : ''} · ${definition.name}@${definition.version}`,
      staticDetails: `Predictions with ts_pred in [${cohort.start}, ${cohort.end}); window ${definition.window}; checkpoints ${definition.checkpoints.join(', ') || 'none'}; late-label grace ${definition.late_label_grace}.`,
      args: [{ cohort, ...options }],
    });
    return { cohort_id: cohortId, workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId, already_started: false };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { cohort_id: cohortId, workflow_id: cohortId, run_id: null, already_started: true };
    throw error;
  }
}
