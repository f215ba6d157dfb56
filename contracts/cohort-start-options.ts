import type { SearchAttributePair } from '@temporalio/common';
import type { CohortRecord, CohortSelector } from './cohort';
import type { LabelDefinition } from './label-definition';
import { cohortIdFor } from './cohort';
import type { CohortLifecycleInput } from './lifecycle';
import { cohortSearchAttributes } from './search-attributes';

/** What a cohort's start needs of its label definition (immutable, so safe to carry in a schedule). */
export type LabelDefinitionTerms = Pick<LabelDefinition, 'name' | 'version' | 'window' | 'checkpoints' | 'late_label_grace'>;

export interface CohortStartOptions {
  workflowId: string;
  staticSummary: string;
  staticDetails: string;
  typedSearchAttributes: SearchAttributePair[];
  args: [CohortLifecycleInput];
}

/**
 * One spelling of how a cohort workflow starts, whether `cohort start` or a schedule opens it:
 * the cohort id as workflow id, what the Web UI's list shows, and the search attributes.
 */
export function cohortStartOptions(
  selector: CohortSelector,
  definition: LabelDefinitionTerms,
  options: { lateLabelChecks?: number } = {},
): CohortStartOptions {
  const cohortId = cohortIdFor(selector, definition);
  const cohort: CohortRecord = {
    ...selector,
    cohort_id: cohortId,
    label_definition_name: definition.name,
    label_definition_version: definition.version,
  };
  const checkpoints = definition.checkpoints.length > 0 ? definition.checkpoints.join(', ') : 'none';
  return {
    workflowId: cohortId,
    staticSummary:
      `${selector.model_name} ${selector.model_version}${selector.environment ? ` (${selector.environment})` : ''}` +
      ` · ${definition.name}@${definition.version}`,
    staticDetails:
      `Predictions with ts_pred in [${cohort.start}, ${cohort.end}); window ${definition.window}; ` +
      `checkpoints ${checkpoints}; late-label grace ${definition.late_label_grace}.`,
    typedSearchAttributes: cohortSearchAttributes(cohort, 'planning'),
    args: [{ cohort, ...options }],
  };
}
