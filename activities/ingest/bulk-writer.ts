import type { Knex } from 'knex';
import type pg from 'pg';
import {
  classifyPendingSql,
  copyColumns,
  createStagingSql,
  ENSURE_PARTITION_SQL,
  PREPARE_MERGE_SQL,
  mergeParameters,
  mergeSql,
  type MergePartition,
  stagingTable,
} from '../../sql/ingest-merge';
import { INGEST_TABLES, quoteIdentifier } from '../../sql/ingest-tables';
import { positionalQuery } from '../../sql/literal-bindings';
import type { RecordKind } from '../../contracts/records';
import { openCopySink, openInsertSink, type StagingSink } from './staging-sink';

/** What storing the rows decided, per line where it matters. */
export interface StoreTally {
  accepted: number;
  duplicates: number;
  conflicts: Array<{ line: number; key: string }>;
  /** All conflicts; `conflicts` of the writer's total keeps only the first {@link MAX_KEPT_CONFLICTS}. */
  conflictCount: number;
}

export interface BulkWriterOptions {
  /** Rows per staged chunk; each chunk is one COPY and one merge. */
  chunkRows?: number;
  /** Chunks in flight: one merging while the next ones are copied. Capped by the pool size. */
  concurrency?: number;
  /** Called after each chunk is merged, with that chunk's tally (every conflict in it). */
  onStored?: (tally: StoreTally) => void;
  /** How rows reach the staging table; default COPY, or bound inserts where COPY is missing. */
  staging?: 'copy' | 'insert';
}

export interface BulkWriter {
  /**
   * Queues one validated row (a line of COPY text); returns a promise only when the caller
   * must wait (backpressure or a new chunk), so the common case costs no await.
   */
  write(copyText: string, partitionMonth: string | null, key: string): Promise<void> | undefined;
  /** Flushes the last chunk and waits for every merge; rejects if any chunk failed. */
  close(): Promise<StoreTally>;
  /** What the chunks merged so far stored: after a failure, what the caller can report as kept. */
  stored(): StoreTally;
}

const WRITE_BUFFER_CHARS = 1 << 16;
/** Conflicts kept for the result document; each chunk's all reach `onStored`. */
const MAX_KEPT_CONFLICTS = 10_000;
/** Pooled connections whose session has been set up for staging. */
const STAGING_SESSIONS = new WeakSet<pg.Client>();
/** SQLSTATEs after which the merge is simply run again: it is idempotent. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

interface Chunk {
  /** The whole chunk is one transaction (embedded PGlite: one backend shared by every client). */
  wholeInTransaction: boolean;
  connection: pg.Client;
  sink: StagingSink;
  buffer: string;
  rows: number;
  /** Rows staged per partition month (`YYYY-MM`). */
  months: Map<string, number>;
  /** Identities staged in this chunk; a repeat starts the next chunk (see mergeSql). */
  keys: Set<string>;
  done: Promise<void>;
}

/**
 * Runs an idempotent statement again after a deadlock or serialization failure: creating a
 * partition waits for every transaction on the parent table, so it can be the victim
 * Postgres picks when concurrent ingests wait on each other's ids.
 */
async function retryTransient<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
    }
  }
}

/** `YYYY-MM` → the first instant of the following month, as the partition's upper bound. */
function nextMonthStart(month: string): string {
  const [year, monthNumber] = month.split('-').map(Number) as [number, number];
  const next =
    monthNumber === 12
      ? `${String(year + 1).padStart(4, '0')}-01`
      : `${String(year).padStart(4, '0')}-${String(monthNumber + 1).padStart(2, '0')}`;
  return `${next}-01T00:00:00Z`;
}

/**
 * Columns ANALYZE skips: the payloads no evaluation filters, joins or groups on. Their
 * statistics would cost most of the ANALYZE (wide jsonb, detoasted for every sampled row)
 * and inform no plan.
 */
const UNPLANNED_COLUMNS = new Set(['features', 'extra']);

/** A partition is analyzed when an ingest's rows are this share of what its statistics knew (autovacuum's default). */
const ANALYZE_SHARE = 0.1;
/** Not the owner of the partition (a role that may only insert): its statistics are left to autovacuum. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Statistics for the partitions an ingest loaded into, however few its rows: a month whose
 * rows came in small ingests has no planner statistics (reltuples −1) until autovacuum gets to
 * it, and with autovacuum slow or off its first evaluations are planned blind. Each partition
 * the ingest changed by a tenth or more of what its statistics counted (or that has none) is
 * analyzed, and only those, so a month's ANALYZEs grow with the log of its rows, not with its
 * ingests. Every loaded partition's GIN indexes (`entity_ids`) also get their pending list
 * merged: a manual ANALYZE leaves it, only (auto)vacuum flushes it, and every entity probe of
 * an evaluation reads the whole list (5 ms a probe on a 30,000-row month: seconds for a few
 * thousand outcomes). The merge is work the index owes anyway, in size what was just loaded.
 */
async function analyzeLoaded(db: Knex, kind: RecordKind, loaded: Map<string, number>): Promise<void> {
  if (loaded.size === 0) return;
  const known = await db.raw<{ rows: Array<{ partition: string; reltuples: number; gin_indexes: string[] }> }>(
    `select c.oid::regclass::text as partition, c.reltuples,
            array(select i.indexrelid::regclass::text from pg_index i join pg_class ic on ic.oid = i.indexrelid
                  join pg_am a on a.oid = ic.relam where i.indrelid = c.oid and a.amname = 'gin' order by 1) as gin_indexes
     from pg_class c where c.oid = any(?::regclass[])`,
    [[...loaded.keys()]],
  );
  const columns = INGEST_TABLES[kind].columns
    .map(([name]) => name)
    .filter((name) => !UNPLANNED_COLUMNS.has(name))
    .map(quoteIdentifier)
    .join(', ');
  const ownerOnly = (work: Promise<unknown>) =>
    work.catch((error: unknown) => {
      if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    });
  for (const { partition, reltuples, gin_indexes: ginIndexes } of known.rows) {
    for (const index of ginIndexes) await ownerOnly(db.raw('select gin_clean_pending_list(?::regclass)', [index]));
    const rows = loaded.get(partition)!;
    // the name is one hindsight_ensure_month_partition returned, already a quoted identifier
    if (reltuples < 0 || rows >= ANALYZE_SHARE * reltuples) await db.raw(`analyze ${partition} (${columns})`);
  }
}

/**
 * The bulk path: rows are COPYed into a session-local staging table in chunks, and each
 * chunk is merged with one set-based statement (see sql/ingest-merge.ts). The COPY of the
 * next chunk overlaps the merge of the previous one; merges run one at a time, in input
 * order, so within one ingest the first line of an id always wins. Memory stays constant:
 * at most `concurrency` chunks are open and rows stream straight into COPY.
 */
export function createBulkWriter(db: Knex, kind: RecordKind, options: BulkWriterOptions = {}): BulkWriter {
  const chunkRows = options.chunkRows ?? 25_000;
  const poolMax = (db.client as { config?: { pool?: { max?: number } } }).config?.pool?.max ?? 10;
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 3, poolMax));
  const tally: StoreTally = { accepted: 0, duplicates: 0, conflicts: [], conflictCount: 0 };
  const inFlight: Chunk[] = [];
  let current: Chunk | null = null;
  let lastMerge: Promise<void> = Promise.resolve();
  let failure: unknown = null;
  /** Rows staged per partition (by name) over the whole ingest, for {@link analyzeLoaded}. */
  const loaded = new Map<string, number>();

  let copySupported: boolean | undefined = options.staging ? options.staging === 'copy' : undefined;

  async function openChunk(): Promise<Chunk> {
    while (inFlight.length >= concurrency) await inFlight[0]!.done.catch(() => {});
    if (failure) throw failure;
    const connection = (await db.client.acquireConnection()) as pg.Client;
    try {
      // PGlite (the embedded database of `hindsight dev`) cannot take COPY FROM STDIN.
      copySupported ??= !/PGlite/.test((await connection.query<{ version: string }>('select version()')).rows[0]!.version);
      // PGlite runs every client in one backend, so one temp table is shared by all of
      // them; only a transaction keeps another client's chunk from interleaving with ours.
      const wholeInTransaction = !copySupported;
      if (wholeInTransaction) await connection.query('begin');
      else if (!STAGING_SESSIONS.has(connection)) {
        // A chunk of staged rows is ~15 MB: with the default 8 MB of temp buffers the staging
        // table would spill to disk and be read back by the merge. Settable only before the
        // session's first temp table, hence once per connection.
        await connection.query("select set_config('temp_buffers', '128MB', false)").catch(() => {});
        STAGING_SESSIONS.add(connection);
      }
      await connection.query(`${createStagingSql(kind)}; truncate ${stagingTable(kind)}`);
      const sink = copySupported ? openCopySink(connection, kind) : openInsertSink(connection, kind, copyColumns(kind).length);
      return { wholeInTransaction, connection, sink, buffer: '', rows: 0, months: new Map(), keys: new Set(), done: Promise.resolve() };
    } catch (error) {
      await connection.query('rollback').catch(() => {});
      await db.client.releaseConnection(connection);
      throw error;
    }
  }

  function flushBuffer(chunk: Chunk): Promise<void> | undefined {
    if (chunk.buffer.length === 0) return undefined;
    const text = chunk.buffer;
    chunk.buffer = '';
    return chunk.sink.write(text);
  }

  async function mergeChunk(chunk: Chunk): Promise<StoreTally> {
    const { connection } = chunk;
    // Partitions are created outside the merge transaction: creating one locks the parent
    // table, and holding that lock while waiting on another ingest's ids could deadlock.
    const partitions: MergePartition[] = [];
    for (const month of [...chunk.months.keys()].sort()) {
      const from = `${month}-01T00:00:00Z`;
      const { rows } = await retryTransient(() =>
        connection.query<{ partition: string }>(positionalQuery(ENSURE_PARTITION_SQL, { table: INGEST_TABLES[kind].table, from })),
      );
      partitions.push({ name: rows[0]!.partition, from, to: nextMonthStart(month) });
      loaded.set(rows[0]!.partition, (loaded.get(rows[0]!.partition) ?? 0) + chunk.months.get(month)!);
    }
    const merge = mergeSql(kind, partitions);
    for (let attempt = 1; ; attempt += 1) {
      try {
        if (!chunk.wholeInTransaction) await connection.query('begin');
        await connection.query(PREPARE_MERGE_SQL);
        const pending = (await connection.query<{ line: string }>(positionalQuery(merge, mergeParameters(partitions)))).rows.map(
          (row) => row.line,
        );
        const result: StoreTally = { accepted: chunk.rows - pending.length, duplicates: 0, conflicts: [], conflictCount: 0 };
        if (pending.length > 0) {
          const classified = await connection.query<{ line: string; key: string; same: boolean }>(
            positionalQuery(classifyPendingSql(kind), { lines: pending }),
          );
          for (const row of classified.rows) {
            if (row.same) result.duplicates += 1;
            else {
              result.conflicts.push({ line: Number(row.line), key: row.key });
              result.conflictCount += 1;
            }
          }
        }
        await connection.query('commit');
        return result;
      } catch (error) {
        await connection.query('rollback').catch(() => {});
        if (chunk.wholeInTransaction || attempt >= MAX_ATTEMPTS || !RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
      }
    }
  }

  function sealChunk(chunk: Chunk): void {
    const previous = lastMerge;
    chunk.done = (async () => {
      let merged = false;
      try {
        await flushBuffer(chunk);
        await chunk.sink.end();
        await previous.catch(() => {});
        if (failure) return;
        const stored = await mergeChunk(chunk);
        merged = true;
        tally.accepted += stored.accepted;
        tally.duplicates += stored.duplicates;
        tally.conflictCount += stored.conflictCount;
        for (const conflict of stored.conflicts) if (tally.conflicts.length < MAX_KEPT_CONFLICTS) tally.conflicts.push(conflict);
        options.onStored?.(stored);
      } catch (error) {
        failure ??= error;
      } finally {
        if (chunk.wholeInTransaction && !merged) await chunk.connection.query('rollback').catch(() => {});
        await db.client.releaseConnection(chunk.connection);
        inFlight.splice(inFlight.indexOf(chunk), 1);
      }
    })();
    lastMerge = chunk.done;
    inFlight.push(chunk);
  }

  return {
    write: function write(copyText: string, partitionMonth: string | null, key: string): Promise<void> | undefined {
      if (failure) return Promise.reject(failure);
      if (current?.keys.has(key)) {
        // The id repeats within this chunk: stage the repeat in the next one, merged after.
        const sealed = current;
        current = null;
        return Promise.resolve(flushBuffer(sealed)).then(() => {
          sealChunk(sealed);
          return write(copyText, partitionMonth, key);
        });
      }
      if (!current) {
        return openChunk().then((chunk) => {
          current = chunk;
          return write(copyText, partitionMonth, key);
        });
      }
      current.buffer += copyText;
      current.rows += 1;
      current.keys.add(key);
      if (partitionMonth) current.months.set(partitionMonth, (current.months.get(partitionMonth) ?? 0) + 1);
      let flushed: Promise<void> | undefined;
      if (current.buffer.length >= WRITE_BUFFER_CHARS) flushed = flushBuffer(current);
      if (current.rows >= chunkRows) {
        const sealed = current;
        current = null;
        return (flushed ?? Promise.resolve()).then(() => sealChunk(sealed));
      }
      return flushed;
    },
    async close() {
      if (current) {
        sealChunk(current);
        current = null;
      }
      await Promise.all(inFlight.map((chunk) => chunk.done));
      if (failure) throw failure;
      await analyzeLoaded(db, kind, loaded);
      return tally;
    },
    stored: () => tally,
  };
}
