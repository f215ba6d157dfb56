import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { startChild, workflowInfo } from '@temporalio/workflow';
import { periodCohort, type ScheduledCohortInput, type ScheduledCohortResult } from '../contracts/schedules';
import { cohortLifecycle } from './cohort-lifecycle';
import { SCHEDULED_START_TIME } from '../contracts/search-attributes';
import { cohortStartOptions, type LabelDefinitionTerms } from '../contracts/cohort-start-options';

/**
 * One schedule action: opens the cohort of the period that just ended, as a cohort workflow
 * whose id is the cohort id. The period comes from the action's nominal time, never from the
 * clock, so a retried, late, caught-up or backfilled action opens exactly the same cohort, and
 * the cohort id keeps any period from being evaluated twice.
 */
export async function scheduledCohort(input: ScheduledCohortInput): Promise<ScheduledCohortResult> {
  const nominal =
    workflowInfo().typedSearchAttributes.get(SCHEDULED_START_TIME) ?? (input.nominalTime ? new Date(input.nominalTime) : undefined);
  if (!nominal || Number.isNaN(nominal.getTime())) {
    throw ApplicationFailure.create({
      type: 'MissingNominalTime',
      nonRetryable: true,
      message: `schedule ${input.scheduleId}: this run has no TemporalScheduledStartTime and no nominalTime, so its period is unknown`,
    });
  }
  const selector = periodCohort(input.model, input.everyMs, nominal.getTime());
  const options = cohortStartOptions(
    selector,
    input.labelDefinition,
    input.lateLabelChecks === undefined ? {} : { lateLabelChecks: input.lateLabelChecks },
  );
  const result = { cohortId: options.workflowId, start: selector.start, end: selector.end };
  try {
    // Abandoned, so the cohort lives on for weeks after this short action has completed.
    await startChild(cohortLifecycle, { ...options, parentClosePolicy: 'ABANDON', workflowIdReusePolicy: 'REJECT_DUPLICATE' });
    return { ...result, opened: true };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { ...result, opened: false };
    throw error;
  }
}
