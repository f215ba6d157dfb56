import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ingestRecords } from '../../activities/ingest/ingest-records';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();

/** `count` predictions of one model spread over the first days of `month` (YYYY-MM), each with a user. */
function predictions(month: string, count: number, offset = 0): object[] {
  const start = Date.parse(`${month}-01T00:00:00Z`);
  return Array.from({ length: count }, (_, k) => ({
    prediction_id: randomUUID(),
    model_name: 'fraud',
    model_version: '1.0',
    ts_pred: new Date(start + (offset + k) * 60_000).toISOString(),
    score: ((offset + k) % 100) / 100,
    entity_ids: { user_id: `u${(offset + k) % 1000}` },
  }));
}

async function ingest(records: object[]): Promise<void> {
  const batch = records.map((value, i) => ({ line: i + 1, text: JSON.stringify(value), value }));
  const result = await ingestRecords(testDb.db, 'predictions', [batch]);
  expect(result.rejected_count).toBe(0);
}

/** A month partition created ahead, with autovacuum off: only ingest can analyze it. */
async function freshMonth(month: string): Promise<string> {
  const { rows } = await testDb.db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)::text as partition', [
    'predictions',
    `${month}-01T00:00:00Z`,
  ]);
  const partition = rows[0].partition as string;
  await testDb.db.raw(`alter table ${partition} set (autovacuum_enabled = false)`);
  return partition;
}

async function statistics(partition: string): Promise<{ reltuples: number; last_analyze: Date | null; analyze_count: number }> {
  const { rows } = await testDb.db.raw(
    `select c.reltuples, s.last_analyze, s.analyze_count::int as analyze_count
     from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.oid = ?::regclass`,
    [partition],
  );
  return rows[0];
}

/** Pages still in the GIN pending list of the partition's entity_ids index (merging them to count them). */
async function pendingPages(partition: string): Promise<number> {
  const { rows } = await testDb.db.raw(
    `select sum(gin_clean_pending_list(i.indexrelid))::int as pages from pg_index i
     join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
     where i.indrelid = ?::regclass and a.amname = 'gin'`,
    [partition],
  );
  return rows[0].pages as number;
}

describe('ingest statistics for the months it loads into', () => {
  it('analyzes a fresh month that took 5,000 rows (under the old 10,000-row floor), and leaves no GIN pending list behind', async () => {
    const partition = await freshMonth('2023-05');
    expect(await statistics(partition)).toMatchObject({ reltuples: -1, last_analyze: null });
    await ingest(predictions('2023-05', 5_000));
    const stats = await statistics(partition);
    expect(stats.reltuples).toBe(5_000);
    expect(stats.last_analyze).not.toBeNull();
    const columns = (await testDb.db.raw('select attname from pg_stats where tablename = ?', [partition.replace(/"/g, '')])).rows.map(
      (row: { attname: string }) => row.attname,
    );
    expect(columns).toEqual(expect.arrayContaining(['model_name', 'model_version', 'ts_pred', 'score', 'entity_ids']));
    expect(await pendingPages(partition)).toBe(0);
  });

  it('does not analyze again after an ingest under a tenth of the month, and does at a tenth', async () => {
    const partition = await freshMonth('2023-07');
    await ingest(predictions('2023-07', 5_000));
    const first = await statistics(partition);
    expect(first.analyze_count).toBe(1);
    await ingest(predictions('2023-07', 499, 5_000));
    const after = await statistics(partition);
    expect(after.analyze_count).toBe(1);
    expect(after.last_analyze).toEqual(first.last_analyze);
    expect(after.reltuples).toBe(5_000);
    // …but the entity index's pending list is merged after every ingest, however small.
    expect(await pendingPages(partition)).toBe(0);
    await ingest(predictions('2023-07', 500, 5_499));
    const tenth = await statistics(partition);
    expect(tenth.analyze_count).toBe(2);
    expect(tenth.reltuples).toBe(5_999);
  });
});
