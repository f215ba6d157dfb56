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
  /** The moment the labels were read as of: the requested as-of, else `to + window`. */
  as_of: string;
  /** Predictions of the range with a score in [0, 1], labeled or not. */
  predictions: number;
  scores: Float64Array;
  labels: Float64Array;
  positives: number;
}

/** Now by the database's clock, to the millisecond (truncated, so never after a later `now()`): the default as-of. */
export async function databaseNow(db: Knex): Promise<string> {
  const { rows } = await db.raw(
    `select to_char(date_trunc('milliseconds', now()) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as now`,
  );
  return rows[0].now as string;
}

export class RangeNotFinalError extends Error {
  override readonly name = 'RangeNotFinalError';
}

/**
 * The labeled rows of a range `[from, to)` read as one cohort with the labels known at `asOf`
 * (docs/calibration.md "Which rows"): the label of each prediction is still the outcome within
 * its window, but every outcome received by `asOf` counts, also one received long after the
 * window closed (a late label, a backfilled label feed). `asOf` must be at or after the range's
 * finality, `to + window`, so every prediction's window has closed, and not in the future
 * (the database's clock): labels known later are not known yet.
 *
 * `asOf` null reads the range as of its own finality, `to + window`, as fits did before they
 * took an as-of: only a recalibration whose fit was scheduled before then still asks for it.
 */
export async function readLabeledScores(
  db: Knex,
  range: ScoreRange,
  definition: LabelDefinition,
  what: string,
  asOf: string | null,
): Promise<LabeledScores> {
  const [finalAt] = await addDurations(db, range.to, [definition.window]);
  const now = (await db.raw('select now() as now')).rows[0].now as Date;
  const where = `the ${what} range [${toUtcIso(range.from)}, ${toUtcIso(range.to)})`;
  if (asOf !== null && Date.parse(asOf) < Date.parse(finalAt!)) {
    throw new RangeNotFinalError(
      `${where} is final only at ${finalAt} (its end + the window ${definition.window}), after the as-of ${toUtcIso(asOf)}; ` +
        `give an as-of at or after ${finalAt}, or pick a range that ended a window before the as-of`,
    );
  }
  if (asOf !== null && Date.parse(asOf) > now.getTime()) {
    throw new RangeNotFinalError(
      `the as-of ${toUtcIso(asOf)} is in the future (now is ${now.toISOString()}): the labels known then are not known yet; ` +
        `give an as-of at or before now`,
    );
  }
  if (asOf === null && Date.parse(finalAt!) > now.getTime()) {
    throw new RangeNotFinalError(
      `${where} is final only at ${finalAt} (its end + the window ${definition.window}); pick a range that ended a window ago`,
    );
  }
  const bindings = joinBindingsFor(
    { model_name: range.model_name, model_version: range.model_version, environment: range.environment, start: range.from, end: range.to },
    definition,
    asOf ?? finalAt!,
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
