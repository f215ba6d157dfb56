import type { Knex } from 'knex';

/** Checks a validated prediction row's score; returns the rejection reason or null. */
export type ScoreRangeCheck = (row: Record<string, unknown>) => string | null;

/**
 * The score ranges models are held to (migration 004: the first binary label definition
 * of a model sets [0, 1]), read once per ingest: the table has a row per model.
 */
export async function loadScoreRangeCheck(db: Knex): Promise<ScoreRangeCheck> {
  const rows = (await db('model_score_ranges').select(
    'model_name',
    'min_score',
    'max_score',
    'label_definition_name',
    'label_definition_version',
  )) as Array<{
    model_name: string;
    min_score: number;
    max_score: number;
    label_definition_name: string;
    label_definition_version: number;
  }>;
  const ranges = new Map(rows.map((row) => [row.model_name, row]));
  return (row) => {
    const range = ranges.get(row.model_name as string);
    const score = row.score as number | null | undefined;
    // A prediction without a score (allowed with an action and a position) has none to check.
    if (score === null || score === undefined) return null;
    if (!range || (score >= range.min_score && score <= range.max_score)) return null;
    return (
      `score: ${score} is outside [${range.min_score}, ${range.max_score}], the score range of model ${range.model_name} ` +
      `(its binary label definition ${range.label_definition_name}@${range.label_definition_version} reads scores as probabilities)`
    );
  };
}
