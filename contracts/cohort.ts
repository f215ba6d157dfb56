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

/** What an id field must not hold as itself: the separator, the escape, the all-environments mark, controls. */
const ID_FIELD_SPECIALS = /[%/*\u0000-\u001f\u007f-\u009f]/g;

/**
 * One field of a `/`-joined id, its `%`, `/`, `*` and control characters percent-encoded (as
 * `encodeURIComponent` spells them), so no field can pass for a separator, for another field or
 * for the `*` that means "every environment". A field without those characters is unchanged,
 * so every id made before this rule existed is still the id of the same thing.
 */
export function escapeIdField(field: string): string {
  return field.replace(ID_FIELD_SPECIALS, (c) => {
    const code = c.charCodeAt(0);
    // C1 controls are two bytes in UTF-8; each byte is encoded, as encodeURIComponent does.
    return code < 0x80 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c);
  });
}

/**
 * The business key of a cohort; it is also the workflow id, so starting twice is a no-op.
 * Pure, so both the command line and the schedule's workflow derive the same id. Each field is
 * escaped ({@link escapeIdField}): an environment named `*` is not the all-environments cohort,
 * and a model name holding `/` cannot make two cohorts share an id.
 */
export function cohortIdFor(selector: CohortSelector, labelDefinition: { name: string; version: number }): string {
  const environment = selector.environment ?? null;
  return [
    'cohort',
    escapeIdField(selector.model_name),
    escapeIdField(selector.model_version),
    environment === null ? '*' : escapeIdField(environment),
    new Date(selector.start).toISOString(),
    new Date(selector.end).toISOString(),
    `${escapeIdField(labelDefinition.name)}@${labelDefinition.version}`,
  ].join('/');
}
