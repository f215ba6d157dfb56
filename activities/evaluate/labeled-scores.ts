import type { Knex } from 'knex';
import { LABELED_SCORES } from '../../sql/calibration-rows';
import { CREATE_MATCHES, createLabeled, joinBindingsFor } from '../../sql/join-outcomes';
import { addDurations } from './cohorts';
import type { LabelDefinition } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';

/** Predictions of one model version (optionally one environment) with ts_pred in `[from, to)`. */
export interface ScoreRange {
  model_name: string;
  model_version: string;
  environment: string | null;
  from: string;
  to: string;
}

export interface LabeledScores {
  from: string;
  to: string;
  /** `to + window`: when every prediction of the range has its final label. */
  as_of: string;
  /** Predictions of the range with a score in [0, 1], labeled or not. */
  predictions: number;
  scores: Float64Array;
  labels: Float64Array;
  positives: number;
}

export class RangeNotFinalError extends Error {
  override readonly name = 'RangeNotFinalError';
}

/**
 * The labeled rows of a range as of its own finality, `to + window`: the range read as one
 * cohort `[from, to)` whose final snapshot would be taken then, so every prediction's window
 * has closed and only outcomes received by then count (docs/calibration.md). A range not yet
 * final (its `to + window` after now) is refused: its labels would still change.
 */
export async function readLabeledScores(db: Knex, range: ScoreRange, definition: LabelDefinition, what: string): Promise<LabeledScores> {
  const [asOf] = await addDurations(db, range.to, [definition.window]);
  const now = (await db.raw('select now() as now')).rows[0].now as Date;
  if (Date.parse(asOf!) > now.getTime()) {
    throw new RangeNotFinalError(
      `the ${what} range [${toUtcIso(range.from)}, ${toUtcIso(range.to)}) is final only at ${asOf} ` +
        `(its end + the window ${definition.window}); pick a range that ended a window ago`,
    );
  }
  const bindings = joinBindingsFor(
    { model_name: range.model_name, model_version: range.model_version, environment: range.environment, start: range.from, end: range.to },
    definition,
    asOf!,
  );
  const row = await db.transaction(
    async (trx) => {
      await trx.raw('set local jit = off');
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(createLabeled(definition.slices, { probabilityScores: true }), bindings);
      return (await trx.raw(LABELED_SCORES, bindings)).rows[0] as { n: number; scores: number[]; labels: number[] };
    },
    { isolationLevel: 'repeatable read' },
  );
  const labels = Float64Array.from(row.labels, Number);
  let positives = 0;
  for (const y of labels) positives += y;
  return {
    from: bindings.start_ts,
    to: bindings.end_ts,
    as_of: bindings.as_of,
    predictions: row.n,
    scores: Float64Array.from(row.scores, Number),
    labels,
    positives,
  };
}
