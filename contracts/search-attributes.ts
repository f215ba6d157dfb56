import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import type { CohortRecord } from './cohort';

/**
 * The custom search attributes every cohort workflow carries, so an operator can filter the
 * Web UI (`ModelName='fraud' AND LifecycleStage='late_label_grace'`) instead of copying ids.
 */
export const MODEL_NAME = defineSearchAttributeKey('ModelName', 'KEYWORD');
export const MODEL_VERSION = defineSearchAttributeKey('ModelVersion', 'KEYWORD');
export const ENVIRONMENT = defineSearchAttributeKey('Environment', 'KEYWORD');
/** `name@version` of the label definition. */
export const LABEL_DEFINITION = defineSearchAttributeKey('LabelDefinition', 'KEYWORD');
export const COHORT_START = defineSearchAttributeKey('CohortStart', 'DATETIME');
export const COHORT_END = defineSearchAttributeKey('CohortEnd', 'DATETIME');
/** The lifecycle's phase name, upserted on every phase change. */
export const LIFECYCLE_STAGE = defineSearchAttributeKey('LifecycleStage', 'KEYWORD');

/** Every key above, for registering them on a server. */
export const COHORT_SEARCH_ATTRIBUTES = [
  MODEL_NAME,
  MODEL_VERSION,
  ENVIRONMENT,
  LABEL_DEFINITION,
  COHORT_START,
  COHORT_END,
  LIFECYCLE_STAGE,
] as const;

/** Set by the server on every workflow a schedule starts: the action's nominal time. */
export const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

/** The attributes a cohort workflow starts with; `Environment` is absent for an all-environments cohort. */
export function cohortSearchAttributes(cohort: CohortRecord, stage: string): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: MODEL_NAME, value: cohort.model_name },
    { key: MODEL_VERSION, value: cohort.model_version },
    { key: LABEL_DEFINITION, value: `${cohort.label_definition_name}@${cohort.label_definition_version}` },
    { key: COHORT_START, value: new Date(cohort.start) },
    { key: COHORT_END, value: new Date(cohort.end) },
    { key: LIFECYCLE_STAGE, value: stage },
  ];
  if (cohort.environment !== null) pairs.push({ key: ENVIRONMENT, value: cohort.environment });
  return pairs;
}
