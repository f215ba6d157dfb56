/**
 * Retention by whole month partitions (see sql/migrations/001_core.sql): a partition of
 * `predictions` or `outcomes` whose whole range lies before `now - keep` is dropped, with
 * its ids released from the key table. A policy shorter than the longest label window plus
 * its late-label grace is refused: it would delete predictions whose labels can still
 * arrive and revise a final snapshot.
 */
import type { Knex } from 'knex';
import { INGEST_TABLES, quoteIdentifier } from './ingest-tables';

export interface RetentionPartition {
  table: 'predictions' | 'outcomes';
  partition: string;
  from: string;
  to: string;
  estimated_rows: number;
  drop: boolean;
}

export interface RetentionPlan {
  keep: string;
  now: string;
  cutoff: string;
  /** The longest label window + late_label_grace over all label definitions, if any. */
  minimum_keep: { duration: string; label_definition: string } | null;
  partitions: RetentionPartition[];
}

export class RetentionPolicyError extends Error {
  override readonly name = 'RetentionPolicyError';
}

const PARTITIONED = ['predictions', 'outcomes'] as const;

/** The label definition whose window + grace is longest, as Postgres compares intervals. */
const LONGEST_LABEL_DELAY_SQL = `
  select name || '@' || version as label_definition,
         ((definition->>'window')::interval + coalesce(definition->>'late_label_grace', 'P30D')::interval)::text as duration,
         (?::interval < (definition->>'window')::interval + coalesce(definition->>'late_label_grace', 'P30D')::interval) as too_short
  from label_definitions
  order by (definition->>'window')::interval + coalesce(definition->>'late_label_grace', 'P30D')::interval desc, name, version
  limit 1`;

const MONTH_PARTITIONS_SQL = `
  select parent.relname as "table", child.relname as partition,
         substring(pg_get_expr(child.relpartbound, child.oid) from 'FROM \\(''([^'']+)''\\)')::timestamptz as range_from,
         substring(pg_get_expr(child.relpartbound, child.oid) from 'TO \\(''([^'']+)''\\)')::timestamptz as range_to,
         greatest(child.reltuples, 0)::bigint as estimated_rows
  from pg_inherits i
  join pg_class child on child.oid = i.inhrelid
  join pg_class parent on parent.oid = i.inhparent
  where parent.relname = any(?::text[]) and pg_get_expr(child.relpartbound, child.oid) <> 'DEFAULT'
  order by 1, 3`;

/**
 * Which month partitions a `keep` policy (ISO-8601 duration) would drop as of `now`.
 * Refuses, with the definition that needs more, a policy shorter than the label delay.
 */
export async function planRetention(db: Knex, input: { keep: string; now?: string }): Promise<RetentionPlan> {
  const now = input.now ?? new Date().toISOString();
  const longest = (await db.raw(LONGEST_LABEL_DELAY_SQL, [input.keep])).rows[0] as { label_definition: string; duration: string; too_short: boolean } | undefined;
  if (longest?.too_short) {
    throw new RetentionPolicyError(
      `retention: --keep ${input.keep} is shorter than ${longest.duration}, the window + late_label_grace of label definition ${longest.label_definition}; labels could still arrive for predictions it would drop`,
    );
  }
  const cutoff = (await db.raw('select (?::timestamptz - ?::interval) as cutoff', [now, input.keep])).rows[0].cutoff as Date;
  const rows = (await db.raw(MONTH_PARTITIONS_SQL, [[...PARTITIONED]])).rows as Array<{ table: RetentionPartition['table']; partition: string; range_from: Date; range_to: Date; estimated_rows: number }>;
  return {
    keep: input.keep,
    now: new Date(now).toISOString(),
    cutoff: cutoff.toISOString(),
    minimum_keep: longest ? { duration: longest.duration, label_definition: longest.label_definition } : null,
    partitions: rows.map((row) => ({
      table: row.table,
      partition: row.partition,
      from: row.range_from.toISOString(),
      to: row.range_to.toISOString(),
      estimated_rows: row.estimated_rows,
      drop: row.range_to.getTime() <= cutoff.getTime(),
    })),
  };
}

/**
 * Drops the partitions a plan marks, each in its own transaction together with releasing
 * its ids from the key table, so an interrupted apply leaves no half-dropped month.
 */
export async function applyRetention(db: Knex, plan: RetentionPlan): Promise<RetentionPartition[]> {
  const dropped: RetentionPartition[] = [];
  for (const partition of plan.partitions.filter((p) => p.drop)) {
    const { keyTable, partitionColumn } = INGEST_TABLES[partition.table];
    await db.transaction(async (trx) => {
      await trx.raw(
        `delete from ${quoteIdentifier(keyTable.table)} where ${quoteIdentifier(partitionColumn)} >= ?::timestamptz and ${quoteIdentifier(partitionColumn)} < ?::timestamptz`,
        [partition.from, partition.to],
      );
      await trx.raw(`drop table if exists ${quoteIdentifier(partition.partition)}`);
    });
    dropped.push(partition);
  }
  return dropped;
}
