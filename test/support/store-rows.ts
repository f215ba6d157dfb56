import type { Knex } from 'knex';

/**
 * Stores test predictions or outcomes with plain inserts, bypassing the ingest path so
 * join tests do not depend on it: creates the month partitions first when the tables are
 * partitioned (migration 001's `hindsight_ensure_month_partition`), else inserts directly.
 */
export async function storeRows(db: Knex, table: 'predictions' | 'outcomes', records: object[]): Promise<void> {
  if (records.length === 0) return;
  const timeColumn = table === 'predictions' ? 'ts_pred' : 'ts_event';
  const rows = records.map((record) => {
    const row: Record<string, unknown> = { content_hash: 'test-row' };
    for (const [key, value] of Object.entries(record)) {
      row[key] = value !== null && typeof value === 'object' ? JSON.stringify(value) : value;
    }
    return row;
  });
  const partitioned = (await db.raw("select to_regproc('hindsight_ensure_month_partition') is not null as present")).rows[0]
    .present as boolean;
  if (partitioned) {
    const months = [...new Set(rows.map((row) => String(row[timeColumn]).slice(0, 7)))];
    for (const month of months)
      await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', [table, `${month}-01T00:00:00Z`]);
  }
  for (let i = 0; i < rows.length; i += 500) await db(table).insert(rows.slice(i, i + 500));
}
