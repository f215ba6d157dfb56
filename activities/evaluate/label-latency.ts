import type { Knex } from 'knex';
import type { CohortSelector } from '../../contracts/cohort';
import { FINALIZED_COHORTS, completenessAtCheckpoints, latencyDistribution, type FinalizedCohortRow } from '../../sql/label-latency';
import { CREATE_MATCHES, createLabeled, joinBindingsFor, type EvaluationBindings, type JoinCohort } from '../../sql/join-outcomes';
import type { LabelDefinition } from '../../contracts/label-definition';

/** How many finalized cohorts the completeness history pools, most recent first. */
export const COMPLETENESS_HISTORY = 12;

export interface LatencyQuantiles {
  p50: number;
  p90: number;
  p99: number;
}

export interface CheckpointCompleteness {
  /** A checkpoint of the definition, or `as_of` for this evaluation's own moment. */
  checkpoint: string;
  /** Share of the eventual positives (regression: labels) of finalized cohorts already known then. */
  expected_share: number | null;
  eventual: number;
  known: number;
}

export interface SliceLatency {
  dimension: string;
  value: string | null;
  /** Joined outcomes measured. */
  n: number;
  /** Seconds from prediction to event and from event to receipt; null when nothing joined. */
  event_minus_prediction: LatencyQuantiles | null;
  received_minus_event: LatencyQuantiles | null;
  expected_completeness: CheckpointCompleteness[];
}

export interface LabelLatencyDocument {
  cohort: JoinCohort;
  label_definition: { name: string; version: number };
  as_of: string;
  /** The finalized cohorts the completeness history comes from. */
  history_cohorts: string[];
  overall: Omit<SliceLatency, 'dimension' | 'value'>;
  slices: SliceLatency[];
}

export interface MeasureLabelLatencyInput {
  cohort: JoinCohort;
  definition: LabelDefinition;
  asOf: string;
}

/**
 * The completeness history of a cohort: the last COMPLETENESS_HISTORY registered cohorts of
 * its model and definition version, finalized by its as-of and ended before it began, most
 * recent first.
 */
export async function finalizedCohorts(db: Knex, bindings: EvaluationBindings, definition: LabelDefinition): Promise<FinalizedCohortRow[]> {
  return (
    await db.raw(FINALIZED_COHORTS, {
      ...bindings,
      definition_name: definition.name,
      definition_version: definition.version,
      max_cohorts: COMPLETENESS_HISTORY,
    })
  ).rows as FinalizedCohortRow[];
}

/** A finalized cohort's row as the selector its join bindings are made from. */
export function finalizedSelector(row: FinalizedCohortRow): CohortSelector {
  const { model_name, model_version, environment } = row;
  return { model_name, model_version, environment, start: row.start_ts.toISOString(), end: row.end_ts.toISOString() };
}

const key = (dim: string, val: string | null) => JSON.stringify([dim, val]);
const quantiles = (values: number[] | null): LatencyQuantiles | null =>
  values === null || values[0] === null || values[0] === undefined ? null : { p50: values[0], p90: values[1]!, p99: values[2]! };

/**
 * Label latency of a cohort (event − prediction, received − event: p50/p90/p99) and, from
 * the outcomes of earlier finalized cohorts of the same model and definition, the share of
 * eventual positives known at each checkpoint and at this as-of, overall and per slice, so
 * a provisional number comes with its expected completeness. Each cohort is joined by the
 * evaluation's own SQL in its own REPEATABLE READ transaction.
 */
export async function measureLabelLatency(db: Knex, input: MeasureLabelLatencyInput): Promise<LabelLatencyDocument> {
  const { cohort, definition } = input;
  const bindings = joinBindingsFor(cohort, definition, input.asOf);
  const latencyRows = await db.transaction(
    async (trx) => {
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(createLabeled(definition.slices), bindings);
      return (await trx.raw(latencyDistribution(definition.slices), bindings)).rows as Array<{
        dim: string;
        val: string | null;
        n: number;
        event_delay: number[];
        receipt_delay: number[];
      }>;
    },
    { isolationLevel: 'repeatable read' },
  );

  const checkpointNames = [...definition.checkpoints, 'as_of'];
  const asOfOffsetSeconds = (Date.parse(bindings.as_of) - Date.parse(bindings.end_ts)) / 1000;
  const history = await finalizedCohorts(db, bindings, definition);

  const totals = new Map<string, { eventual: number[]; known: number[] }>();
  for (const earlier of history) {
    const earlierBindings = {
      ...joinBindingsFor(finalizedSelector(earlier), definition, input.asOf),
      checkpoints: [...definition.checkpoints, `${asOfOffsetSeconds} seconds`],
    };
    const rows = await db.transaction(
      async (trx) => {
        await trx.raw(CREATE_MATCHES, earlierBindings);
        await trx.raw(createLabeled(definition.slices), earlierBindings);
        return (await trx.raw(completenessAtCheckpoints(definition.slices), earlierBindings)).rows as Array<{
          dim: string;
          val: string | null;
          ordinal: number;
          eventual: number;
          known: number;
        }>;
      },
      { isolationLevel: 'repeatable read' },
    );
    for (const row of rows) {
      const entry = totals.get(key(row.dim, row.val)) ?? { eventual: checkpointNames.map(() => 0), known: checkpointNames.map(() => 0) };
      entry.eventual[row.ordinal - 1]! += row.eventual;
      entry.known[row.ordinal - 1]! += row.known;
      totals.set(key(row.dim, row.val), entry);
    }
  }

  const completeness = (dim: string, val: string | null): CheckpointCompleteness[] => {
    const entry = totals.get(key(dim, val));
    return checkpointNames.map((checkpoint, k) => {
      const eventual = entry?.eventual[k] ?? 0;
      const known = entry?.known[k] ?? 0;
      return { checkpoint, expected_share: eventual === 0 ? null : known / eventual, eventual, known };
    });
  };
  const toSlice = (
    row: { dim: string; val: string | null; n: number; event_delay: number[] | null; receipt_delay: number[] | null } | undefined,
    dim: string,
    val: string | null,
  ) => ({
    n: row?.n ?? 0,
    event_minus_prediction: quantiles(row?.event_delay ?? null),
    received_minus_event: quantiles(row?.receipt_delay ?? null),
    expected_completeness: completeness(dim, val),
  });

  const sliceKeys = new Map<string, { dim: string; val: string | null }>();
  for (const row of latencyRows) if (row.dim !== '') sliceKeys.set(key(row.dim, row.val), { dim: row.dim, val: row.val });
  for (const k of totals.keys()) {
    const [dim, val] = JSON.parse(k) as [string, string | null];
    if (dim !== '') sliceKeys.set(k, { dim, val });
  }
  return {
    cohort: { ...cohort, start: bindings.start_ts, end: bindings.end_ts },
    label_definition: { name: definition.name, version: definition.version },
    as_of: bindings.as_of,
    history_cohorts: history.map((row) => row.cohort_id),
    overall: toSlice(
      latencyRows.find((row) => row.dim === ''),
      '',
      '',
    ),
    slices: [...sliceKeys.values()]
      .sort((a, b) => key(a.dim, a.val).localeCompare(key(b.dim, b.val)))
      .map(({ dim, val }) => ({
        dimension: dim,
        value: val,
        ...toSlice(
          latencyRows.find((row) => row.dim === dim && row.val === val),
          dim,
          val,
        ),
      })),
  };
}
