/**
 * A model's identity inside Hindsight has one spelling, {@link ModelRef}. The public JSON, the
 * tables and the command line's flags spell it `model_name`, `model_version`, `environment`;
 * code converts at that boundary with {@link modelRefOf} and {@link modelColumns}, never field
 * by field in the middle.
 */
export interface ModelRef {
  name: string;
  version: string;
  /** null: every environment (a cohort or schedule that does not select one). */
  environment: string | null;
}

/** A model version where the environment plays no part: calibrators, workflow ids. */
export type ModelVersionRef = Pick<ModelRef, 'name' | 'version'>;

/** The snake_case columns (and JSON fields) that spell a model's identity. */
export interface ModelColumns {
  model_name: string;
  model_version: string;
  environment: string | null;
}

export function modelRefOf(columns: ModelColumns): ModelRef {
  return { name: columns.model_name, version: columns.model_version, environment: columns.environment };
}

export function modelColumns(model: ModelRef): ModelColumns {
  return { model_name: model.name, model_version: model.version, environment: model.environment };
}
