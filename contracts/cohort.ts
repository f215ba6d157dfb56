/** A cohort, as the command line, the workflows and the activities name it. */

/** A cohort: one model version's predictions in `[start, end)` on ts_pred, optionally one environment. */
export interface CohortSelector {
  model_name: string;
  model_version: string;
  environment: string | null;
  start: string;
  end: string;
}

/** A registered cohort: the selector, its id and the label definition version it is measured under. */
export interface CohortRecord extends CohortSelector {
  cohort_id: string;
  label_definition_name: string;
  label_definition_version: number;
}

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
