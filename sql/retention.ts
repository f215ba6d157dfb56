/**
 * Retention by whole month partitions (see sql/migrations/001_core.sql and
 * docs/operations.md). Every date is computed by Postgres on the actual bounds
 * (`timestamptz + interval` in the UTC session), never by approximating a month as 30 days:
 * - a `predictions` month [from, to) is dropped only when `to ≤ now − keep` and, for every
 *   label definition, `(to + window) + late_label_grace ≤ now` (as the cohort lifecycle adds
 *   them), and every registered cohort overlapping it is past `(end + window) + grace`;
 * - an `outcomes` month is dropped only when `to ≤ now − keep` and `to ≤ k − window` for
 *   every definition, k the earliest instant a kept prediction can have: so no outcome that a
 *   kept prediction can join (ts_event ≥ ts_pred), nor one the entity path counts as its
 *   leakage (within one window before it), is dropped.
 */
import type { Knex } from 'knex';
import { INGEST_TABLES, quoteIdentifier } from './ingest-tables';

export interface RetentionPartition {
  table: 'predictions' | 'outcomes';
  partition: string;
  from: string;
  to: string;
  /** The planner's estimate, for every partition (cheap). */
  estimated_rows: number;
  /** `count(*)` of the partitions to drop (null for the ones kept). */
  rows: number | null;
  drop: boolean;
  /** Why a partition older than the cutoff is kept, if one is; null otherwise. */
  kept_because: string | null;
}

export interface RetentionPlan {
  keep: string;
  now: string;
  cutoff: string;
  /** The label definition whose `(month bound + window) + late_label_grace` is latest, if any. */
  longest_label_delay: { label_definition: string; window: string; late_label_grace: string; settled_at: string } | null;
  partitions: RetentionPartition[];
}

export class RetentionPolicyError extends Error {
  override readonly name = 'RetentionPolicyError';
}

const PARTITIONED = ['predictions', 'outcomes'] as const;

/** Each label definition's window and grace, as the evaluation reads them. */
const DEFINITIONS = `
  select name, version, name || '@' || version as label_definition,
         (definition->>'window')::interval as label_window,
         coalesce(definition->>'leakage_horizon', definition->>'window')::interval as leakage_horizon,
         coalesce(definition->>'late_label_grace', 'P30D')::interval as grace,
         definition->>'window' as window_text,
         coalesce(definition->>'late_label_grace', 'P30D') as grace_text
  from label_definitions`;

/**
 * The definition that holds the months before `:boundary` longest: the latest
 * `(boundary + window) + grace`. The bound is the first month start at or before the cutoff,
 * the latest upper bound of a month the policy can drop; as `ts + interval` never decreases
 * in ts, every earlier month is settled when it is.
 */
const LONGEST_LABEL_DELAY_SQL = `
  select d.label_definition, d.window_text, d.grace_text,
         (:boundary::timestamptz + d.label_window) + d.grace as settled_at
  from (${DEFINITIONS}) d
  order by 4 desc, d.name, d.version
  limit 1`;

const MONTH_PARTITIONS_SQL = `
  select parent.relname as "table", child.relname as partition,
         substring(pg_get_expr(child.relpartbound, child.oid) from 'FROM \\(''([^'']+)''\\)')::timestamptz as range_from,
         substring(pg_get_expr(child.relpartbound, child.oid) from 'TO \\(''([^'']+)''\\)')::timestamptz as range_to,
         greatest(child.reltuples, 0)::bigint as estimated_rows
  from pg_inherits i
  join pg_class child on child.oid = i.inhrelid
  join pg_class parent on parent.oid = i.inhparent
  where parent.relname = any(:tables::text[]) and pg_get_expr(child.relpartbound, child.oid) <> 'DEFAULT'
  order by 1, 3`;

/**
 * Per predictions month: the latest moment a label definition or a registered cohort can
 * still label or revise one of its predictions, and which one.
 */
const PREDICTION_HOLDS_SQL = `
  select m.range_to, h.held_until, h.held_by
  from unnest(:froms::timestamptz[], :tos::timestamptz[]) as m(range_from, range_to)
  cross join lateral (
    select held_until, held_by from (
      select (m.range_to + d.label_window) + d.grace as held_until, 'label definition ' || d.label_definition as held_by
      from (${DEFINITIONS}) d
      union all
      select (c.end_ts + d.label_window) + d.grace, 'cohort ' || c.cohort_id
      from cohorts c join (${DEFINITIONS}) d on d.name = c.label_definition_name and d.version = c.label_definition_version
      where c.start_ts < m.range_to and c.end_ts > m.range_from
    ) as holds
    order by held_until desc
    limit 1
  ) as h`;

/**
 * Per outcomes month: whether some definition still needs it for a kept prediction, which
 * can be as early as `:earliest_kept` (joined: ts_event ≥ ts_pred; leakage, on every path:
 * ts_event ≥ ts_pred − leakage horizon, as sql/join-outcomes.ts computes it).
 */
const OUTCOME_HOLDS_SQL = `
  select m.range_to, h.label_definition as held_by
  from unnest(:tos::timestamptz[]) as m(range_to)
  left join lateral (
    select d.label_definition from (${DEFINITIONS}) d
    where m.range_to > :earliest_kept::timestamptz - d.leakage_horizon
    order by d.name, d.version
    limit 1
  ) as h on true`;

const iso = (value: Date) => value.toISOString();

/** SQLSTATEs of a duration or date out of range: datetime (22008) and interval (22015) field overflow. */
const OUT_OF_RANGE = new Set(['22008', '22015']);

/** Postgres' "out of range" from input durations, as a policy error naming the input (never the SQL). */
async function withinTimestampRange<T>(work: () => Promise<T>, what: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (OUT_OF_RANGE.has((error as { code?: string }).code ?? ''))
      throw new RetentionPolicyError(`retention: ${what} leaves the timestamp range`, { cause: error });
    throw error;
  }
}

/**
 * Which month partitions a `keep` policy (ISO-8601 duration) would drop as of `now`, with
 * the exact row count of each. Refuses a `now` in the future (unless `force`) and a policy
 * that would drop data whose labels can still arrive, naming the definition that needs more.
 */
export async function planRetention(db: Knex, input: { keep: string; now?: string; force?: boolean }): Promise<RetentionPlan> {
  const now = new Date(input.now ?? Date.now());
  if (now.getTime() > Date.now() && !input.force) {
    throw new RetentionPolicyError(
      `retention: --now ${iso(now)} is in the future; ` +
        `it would drop data whose labels can still arrive (pass --force if that is what you mean)`,
    );
  }
  const { cutoff, boundary } = await withinTimestampRange(
    async () =>
      (
        await db.raw(
          `select c.cutoff, date_trunc('month', c.cutoff, 'UTC') as boundary ` +
            `from (select :now::timestamptz - :keep::interval as cutoff) as c`,
          { now: iso(now), keep: input.keep },
        )
      ).rows[0] as { cutoff: Date; boundary: Date },
    `--now ${iso(now)} minus --keep ${input.keep}`,
  );
  const longest = await withinTimestampRange(
    async () =>
      (await db.raw(LONGEST_LABEL_DELAY_SQL, { boundary: iso(boundary) })).rows[0] as
        { label_definition: string; window_text: string; grace_text: string; settled_at: Date } | undefined,
    `the month bound ${iso(boundary)} plus a label window and grace`,
  );
  if (longest && longest.settled_at.getTime() > now.getTime()) {
    throw new RetentionPolicyError(
      `retention: --keep ${input.keep} is too short: it would drop the months before ${iso(boundary)}, ` +
        `but label definition ${longest.label_definition} (window ${longest.window_text}, late_label_grace ${longest.grace_text}) ` +
        `can still label or revise their predictions until ${iso(longest.settled_at)}`,
    );
  }
  const months = (await db.raw(MONTH_PARTITIONS_SQL, { tables: [...PARTITIONED] })).rows as Array<{
    table: RetentionPartition['table'];
    partition: string;
    range_from: Date;
    range_to: Date;
    estimated_rows: number;
  }>;
  const predictionMonths = months.filter((m) => m.table === 'predictions');
  const holds =
    predictionMonths.length === 0
      ? []
      : ((
          await db.raw(PREDICTION_HOLDS_SQL, {
            froms: predictionMonths.map((m) => iso(m.range_from)),
            tos: predictionMonths.map((m) => iso(m.range_to)),
          })
        ).rows as Array<{ held_until: Date | null; held_by: string | null }>);

  const partitions: RetentionPartition[] = predictionMonths.map((m, i) => {
    const hold = holds[i];
    const old = m.range_to.getTime() <= cutoff.getTime();
    const held = old && hold?.held_until != null && hold.held_until.getTime() > now.getTime();
    return {
      table: m.table,
      partition: m.partition,
      from: iso(m.range_from),
      to: iso(m.range_to),
      estimated_rows: m.estimated_rows,
      rows: null,
      drop: old && !held,
      kept_because: held ? `${hold.held_by} can still label or revise its predictions until ${iso(hold.held_until!)}` : null,
    };
  });

  // The earliest ts_pred a kept prediction can have: the first kept month, or a stray row
  // in the default partition (never dropped); the cutoff if nothing is kept.
  const firstKept = partitions.find((p) => !p.drop)?.from;
  const strayEarliest = (await db.raw('select min(ts_pred) as at from predictions_default')).rows[0].at as Date | null;
  const earliestKept = [firstKept ? new Date(firstKept) : cutoff, ...(strayEarliest ? [strayEarliest] : [])].reduce((a, b) =>
    a.getTime() <= b.getTime() ? a : b,
  );
  const outcomeMonths = months.filter((m) => m.table === 'outcomes');
  const outcomeHolds =
    outcomeMonths.length === 0
      ? []
      : ((
          await db.raw(OUTCOME_HOLDS_SQL, {
            tos: outcomeMonths.map((m) => iso(m.range_to)),
            earliest_kept: iso(earliestKept),
          })
        ).rows as Array<{ held_by: string | null }>);
  outcomeMonths.forEach((m, i) => {
    const old = m.range_to.getTime() <= cutoff.getTime();
    const heldBy = outcomeHolds[i]?.held_by ?? null;
    const needed = m.range_to.getTime() > earliestKept.getTime() || heldBy !== null;
    partitions.push({
      table: m.table,
      partition: m.partition,
      from: iso(m.range_from),
      to: iso(m.range_to),
      estimated_rows: m.estimated_rows,
      rows: null,
      drop: old && !needed,
      kept_because:
        old && needed
          ? `predictions kept from ${iso(earliestKept)} on can still join its outcomes or count them as leakage` +
            `${heldBy ? ` (label definition ${heldBy})` : ''}`
          : null,
    });
  });

  for (const partition of partitions.filter((p) => p.drop)) partition.rows = await countRows(db, partition.partition);
  return {
    keep: input.keep,
    now: iso(now),
    cutoff: iso(cutoff),
    longest_label_delay: longest
      ? {
          label_definition: longest.label_definition,
          window: longest.window_text,
          late_label_grace: longest.grace_text,
          settled_at: iso(longest.settled_at),
        }
      : null,
    partitions,
  };
}

async function countRows(db: Knex | Knex.Transaction, partition: string): Promise<number> {
  return (await db.raw(`select count(*) as n from ${quoteIdentifier(partition)}`)).rows[0].n as number;
}

/**
 * Drops the partitions a plan marks, each in its own transaction together with releasing
 * its ids from the key table, so an interrupted apply leaves no half-dropped month. The
 * partition is locked first, so the row count returned is exactly what was dropped.
 */
export async function applyRetention(db: Knex, plan: RetentionPlan): Promise<RetentionPartition[]> {
  const dropped: RetentionPartition[] = [];
  for (const partition of plan.partitions.filter((p) => p.drop)) {
    const { keyTable, partitionColumn } = INGEST_TABLES[partition.table];
    const rows = await db.transaction(async (trx) => {
      if (!(await trx.raw('select to_regclass(:partition) as t', { partition: quoteIdentifier(partition.partition) })).rows[0].t)
        return null;
      await trx.raw(`lock table ${quoteIdentifier(partition.partition)} in access exclusive mode`);
      const count = await countRows(trx, partition.partition);
      await trx.raw(
        `delete from ${quoteIdentifier(keyTable.table)} where ${quoteIdentifier(partitionColumn)} >= ?::timestamptz ` +
          `and ${quoteIdentifier(partitionColumn)} < ?::timestamptz`,
        [partition.from, partition.to],
      );
      await trx.raw(`drop table ${quoteIdentifier(partition.partition)}`);
      return count;
    });
    if (rows !== null) dropped.push({ ...partition, rows });
  }
  return dropped;
}
