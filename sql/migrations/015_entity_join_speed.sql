-- Entity joins read the GIN index on predictions.entity_ids (migration 001) once per outcome,
-- and each probe reads the index's whole pending list: the rows inserted since the last
-- (auto)vacuum, which a manual ANALYZE does not merge. A month loaded by ingests with
-- autovacuum behind (or off) kept up to 4 MB there, and an entity-keyed evaluation of a
-- 5,000-prediction cohort spent seconds on it (5 ms a probe against 0.03 ms). Ingest now
-- merges the pending list of every partition it loads into (activities/ingest/bulk-writer.ts);
-- this merges what earlier ingests left, once. No rows or results change.
select gin_clean_pending_list(i.indexrelid)
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_am a on a.oid = c.relam
where a.amname = 'gin' and c.relkind = 'i'
  and i.indrelid in (select inhrelid from pg_inherits where inhparent = 'predictions'::regclass);
