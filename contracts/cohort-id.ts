import type { CohortSelector } from '../activities/evaluate/evaluate-cohort';

/**
 * The business key of a cohort; it is also the workflow id, so starting twice is a no-op.
 * Pure, so both the command line and the schedule's workflow derive the same id.
 */
export function cohortIdFor(selector: CohortSelector, labelDefinition: { name: string; version: number }): string {
  return [
    'cohort',
    selector.model_name,
    selector.model_version,
    selector.environment ?? '*',
    new Date(selector.start).toISOString(),
    new Date(selector.end).toISOString(),
    `${labelDefinition.name}@${labelDefinition.version}`,
  ].join('/');
}
