import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { CohortSelector } from '../contracts/cohort';
import { explainSearchAttributeError } from './search-attributes';
import { COHORT_LIFECYCLE_WORKFLOW, type CohortLifecycleWorkflow } from '../contracts/workflow-names';
import { cohortStartOptions, type LabelDefinitionTerms } from '../contracts/cohort-start-options';

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
  definition: LabelDefinitionTerms,
  options: { lateLabelChecks?: number } = {},
): Promise<StartedCohort> {
  const start = cohortStartOptions(selector, definition, options);
  try {
    const handle = await client.workflow.start<CohortLifecycleWorkflow>(COHORT_LIFECYCLE_WORKFLOW, {
      ...start,
      taskQueue,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    return { cohort_id: start.workflowId, workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId, already_started: false };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError)
      return { cohort_id: start.workflowId, workflow_id: start.workflowId, run_id: null, already_started: true };
    throw explainSearchAttributeError(error);
  }
}
