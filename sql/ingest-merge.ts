/**
 * The SQL of the bulk ingest path: COPY a chunk of validated rows into a session-local
 * staging table, then move it into the real table with one set-based statement that
 * claims identities with `on conflict do nothing` (so two
 * concurrent ingests of one file store each record once) and hands back the lines that
 * were not stored, which {@link classifyPendingSql} then splits into duplicates (same
 * content_hash as the stored original) and conflicts.
 */
import { INGEST_TABLES, quoteIdentifier, type IngestTable } from './ingest-tables';
import type { RecordKind } from '../contracts/records';

function spec(kind: RecordKind): IngestTable {
  return INGEST_TABLES[kind];
}

/** Session-local (temp) staging table: no WAL, no indexes, invisible to other sessions. */
export function stagingTable(kind: RecordKind): string {
  return `pg_temp.${quoteIdentifier(`hs_stage_${kind}`)}`;
}

export function createStagingSql(kind: RecordKind): string {
  const columns = spec(kind).columns.map(([name, type]) => `${quoteIdentifier(name)} ${type}`);
  return `create temp table if not exists ${quoteIdentifier(`hs_stage_${kind}`)} (line bigint not null, ${columns.join(', ')})`;
}

/** Column order of the COPY text the bulk writer produces: `line`, then the table columns. */
export function copyColumns(kind: RecordKind): string[] {
  return ['line', ...spec(kind).columns.map(([name]) => name)];
}

export function copyIntoStagingSql(kind: RecordKind): string {
  return `copy ${stagingTable(kind)} (${copyColumns(kind).map(quoteIdentifier).join(', ')}) from stdin`;
}

/** The staging insert for servers without COPY FROM STDIN: one text[] binding per column, `:c0` … `:cN`. */
export function insertIntoStagingSql(kind: RecordKind): string {
  const types = ['bigint', ...spec(kind).columns.map(([, type]) => type)];
  const names = copyColumns(kind);
  const aliases = names.map((_, index) => `c${index}`);
  return `insert into ${stagingTable(kind)} (${names.map(quoteIdentifier).join(', ')})
  select ${aliases.map((alias, index) => `${alias}::${types[index]}`).join(', ')}
  from unnest(${aliases.map((alias) => `:${alias}::text[]`).join(', ')}) as t(${aliases.join(', ')})`;
}

export const ENSURE_PARTITION_SQL = 'select hindsight_ensure_month_partition(:table::regclass, :from::timestamptz) as partition';

/** A month partition a merge writes to directly, with its bounds (bound as parameters). */
export interface MergePartition {
  name: string;
  from: string;
  to: string;
}

/**
 * One statement: claim each staged identity → store the claimed rows; returns `line` of
 * every staged row that was not stored (its id was already known).
 *
 * The staged chunk holds each identity at most once: the bulk writer starts a new chunk
 * when an id repeats, so the first line of an id is merged first and the repeat is then
 * classified against it. That keeps this statement free of a sort over whole rows.
 *
 * For the partitioned tables the rows go straight into their month partitions (all
 * created beforehand, passed in `partitions`): an insert into the parent would fill the
 * transition table of the parent's claim-keys trigger, which doubles the merge's cost,
 * while the keys are claimed here already. The bounds are the statement's parameters.
 */
export function mergeSql(kind: RecordKind, partitions: readonly MergePartition[] = []): string {
  const { table, columns, key, keyTable, partitionColumn } = spec(kind);
  const q = quoteIdentifier;
  const stage = stagingTable(kind);
  const keyList = key.map(q).join(', ');
  const columnList = columns.map(([name]) => q(name)).join(', ');
  const claimedHas = (alias: string) => `select 1 from claimed c where ${key.map((k) => `c.${q(k)} = ${alias}.${q(k)}`).join(' and ')}`;
  const claimTable = keyTable ?? { table, columns: columns.map(([name]) => name) };
  // Claiming in key order means concurrent ingests lock ids in one order: no deadlock cycles.
  const claim = `claimed as (
    insert into ${q(claimTable.table)} (${claimTable.columns.map(q).join(', ')})
    select ${claimTable.columns.map(q).join(', ')} from ${stage} order by ${keyList}
    on conflict do nothing
    returning ${keyList}
  )`;
  let stores = '';
  if (keyTable && partitionColumn) {
    if (partitions.length === 0) throw new Error(`merge into ${table} needs the partitions of its rows`);
    stores = partitions
      .map(
        (partition, index) => `, stored_${index} as (
    insert into ${q(partition.name)} (${columnList}) select ${columnList} from ${stage} s
    where s.${q(partitionColumn)} >= :from_${index}::timestamptz and s.${q(partitionColumn)} < :to_${index}::timestamptz
      and exists (${claimedHas('s')})
  )`,
      )
      .join('');
  }
  return `with ${claim}${stores}
  select s.line from ${stage} s where not exists (${claimedHas('s')})`;
}

/** The parameters of {@link mergeSql}: each partition's bounds, in order. */
export function mergeParameters(partitions: readonly MergePartition[]): Record<string, string> {
  return Object.fromEntries(
    partitions.flatMap((partition, index) => [
      [`from_${index}`, partition.from],
      [`to_${index}`, partition.to],
    ]),
  );
}

/**
 * For staged lines that were not stored: the identity as text and whether the stored
 * original has the same content. Runs after the merge in the same transaction, so it sees
 * both what this merge claimed and what a concurrent ingest committed meanwhile.
 */
export function classifyPendingSql(kind: RecordKind): string {
  const { table, key, keyTable } = spec(kind);
  const q = quoteIdentifier;
  const claimTable = keyTable ? keyTable.table : table;
  const keyText = key.length === 1 ? `s.${q(key[0]!)}::text` : `concat_ws(' ', ${key.map((k) => `s.${q(k)}::text`).join(', ')})`;
  return `select s.line, ${keyText} as key, (k.content_hash = s.content_hash) as same
  from ${stagingTable(kind)} s join ${q(claimTable)} k on ${key.map((k) => `k.${q(k)} = s.${q(k)}`).join(' and ')}
  where s.line = any(:lines::bigint[])
  order by s.line`;
}

/**
 * Transaction settings of a merge: the claim-keys triggers learn that this transaction
 * claimed its keys itself, and a chunk's sorts fit in memory instead of spilling to disk.
 */
export const PREPARE_MERGE_SQL = "select set_config('hindsight.keys_claimed', 'on', true), set_config('work_mem', '64MB', true)";
