import type { Knex } from 'knex';
import { binaryTotalsStatement } from '../../sql/binary-metrics';
import { historyScoreSums } from '../../sql/diagnose';
import { CREATE_MATCHES, INVALID_SCORES, createLabeled, joinBindingsFor } from '../../sql/join-outcomes';
import { estimatePerformance, UNCALIBRATED, type EstimatedPerformance, type ScoreCalibration } from '../estimate/cbpe';
import type { CohortSelector } from '../../contracts/cohort';
import type { LabelDefinition } from '../../contracts/label-definition';
import { measureLabelLatency, type LabelLatencyDocument } from '../evaluate/label-latency';

/** The counts of one slice group (overall: dimension '' with value '') as of a moment. */
export interface GroupCounts {
  dimension: string;
  value: string | null;
  n: number;
  n_labeled: number;
  n_final: number;
  n_positive: number;
  /** Labeled predictions at or above their threshold that are positive (tp) and negative (fp). */
  tp: number;
  fp: number;
}

/** Everything the checks read about one side (the cohort or its baseline). */
export interface SideFacts {
  cohort: CohortSelector;
  as_of: string;
  groups: GroupCounts[];
  /** Predictions left out for a score outside [0, 1]. */
  invalid_score: number;
  latency: LabelLatencyDocument;
  estimate: EstimatedPerformance;
}

/**
 * One side's counts per slice group as of a moment, from the evaluation's own join and
 * totals SQL in one REPEATABLE READ transaction, with its label latency (and the
 * completeness history behind it) and its label-free estimate.
 */
export async function gatherSide(
  db: Knex,
  cohort: CohortSelector,
  definition: LabelDefinition,
  asOf: string,
  calibrated: ScoreCalibration = UNCALIBRATED,
): Promise<SideFacts> {
  const bindings = joinBindingsFor(cohort, definition, asOf);
  const { rows, invalid } = await db.transaction(
    async (trx) => {
      await trx.raw('set local jit = off');
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(createLabeled(definition.slices, { probabilityScores: true }), bindings);
      const totals = binaryTotalsStatement(definition.slices);
      return {
        rows: (await trx.raw(totals.sql, { ...bindings, ...totals.bindings })).rows as Array<
          Record<string, number> & { dim: string; val: string | null }
        >,
        invalid: (await trx.raw(INVALID_SCORES, bindings)).rows[0].invalid_score as number,
      };
    },
    { isolationLevel: 'repeatable read' },
  );
  const normalized = { ...cohort, start: bindings.start_ts, end: bindings.end_ts };
  return {
    cohort: normalized,
    as_of: bindings.as_of,
    groups: rows.map((row) => ({
      dimension: row.dim,
      value: row.val,
      n: row.n!,
      n_labeled: row.n_labeled!,
      n_final: row.n_final!,
      n_positive: row.n_positive!,
      tp: row.tp!,
      fp: row.fp!,
    })),
    invalid_score: invalid,
    latency: await measureLabelLatency(db, { cohort: normalized, definition, asOf }),
    estimate: await estimatePerformance(db, normalized, definition, calibrated),
  };
}

/**
 * Σ score per slice group over the cohorts the latency history pooled: what their scores
 * expected, to set against the positives they had received by the same lag.
 */
export async function historyExpectedPositives(db: Knex, cohortIds: string[], definition: LabelDefinition): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  if (cohortIds.length === 0) return sums;
  const rows = (
    await db.raw(historyScoreSums(definition.slices), {
      cohort_ids: cohortIds,
      dims: definition.slices,
    })
  ).rows as Array<{ dim: string; val: string | null; sum_p: number }>;
  for (const row of rows) sums.set(JSON.stringify([row.dim, row.val]), row.sum_p);
  return sums;
}
