/**
 * `npm run bench:export`: `hindsight export` against the database's own speed. One cohort of
 * 1M predictions (BENCH_ROWS; the `bench:evaluate` data) exported as CSV through the real
 * `exportEvaluation` (join, labels, COPY streamed to a file), and in the same run a raw
 * `COPY` of the very same joined rows, already computed and stored in a table, to a file.
 * Both files must be byte-identical. The export's join alone (its first statement) is timed
 * too, to say how much of the difference is the join. Then the same export as Parquet (`--format parquet`),
 * with this process's peak RSS while it wrote. Last line: `{"bench":"export","rows":…,"ratio":…,
 * "parquet_ratio":…}`, ratio = our CSV rows/s over the raw COPY's (target ≥ 0.5), parquet_ratio
 * = our Parquet rows/s over the same raw CSV COPY's (no target), join_then_raw_ratio = the
 * raw COPY's time over the join's plus the raw COPY's: the ratio an export would reach if
 * labelling, ordering and formatting its rows cost nothing. Best of BENCH_EXPORT_RUNS (default 3).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { exportEvaluation } from '../activities/evaluate/export-evaluation';
import { exportRows } from '../sql/export-evaluation';
import { CREATE_MATCHES, joinBindingsFor } from '../sql/join-outcomes';
import {
  AS_OF,
  COHORT_MONTHS,
  END,
  START,
  best,
  cohortSelector,
  createBenchDatabase,
  definitionFor,
  loadCohort,
  log,
  positiveSetting,
  settle,
  timed,
  type GeneratedCohort,
} from './evaluation-data';

const ROWS = positiveSetting('BENCH_ROWS', 1_000_000);
const RUNS = positiveSetting('BENCH_EXPORT_RUNS', 3);
const COHORT: GeneratedCohort = { model: 'bench', prefix: '', rows: ROWS, start: START, end: END };

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const bench = await createBenchDatabase(COHORT_MONTHS);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-bench-export-'));
  try {
    await loadCohort(bench.db, COHORT);
    await settle(bench.db);
    const cohort = cohortSelector(COHORT);
    const definition = definitionFor(COHORT);
    // The joined rows, exactly as the export writes them, kept in a plain table for the raw COPY.
    await bench.db.transaction(
      async (trx) => {
        const bindings = joinBindingsFor(cohort, definition, AS_OF);
        await trx.raw(CREATE_MATCHES, bindings);
        await trx.raw(`create table bench_joined_rows as ${exportRows()}`, { ...bindings });
      },
      { isolationLevel: 'repeatable read' },
    );
    await bench.db.raw('vacuum analyze bench_joined_rows');

    const ours: number[] = [];
    const raw: number[] = [];
    const join: number[] = [];
    let rows = 0;
    const oursFile = path.join(dir, 'export.csv');
    const rawFile = path.join(dir, 'raw.csv');
    for (let run = 0; run < RUNS; run++) {
      const exported = await timed(() => exportEvaluation(bench.db, { cohort, definition, asOf: AS_OF, out: oursFile, format: 'csv' }));
      ours.push(exported.ms);
      rows = exported.result.rows;
      const copied = await timed(async () => {
        const connection = (await bench.db.client.acquireConnection()) as pg.Client;
        try {
          await pipeline(
            connection.query(copyTo('copy bench_joined_rows to stdout with (format csv, header true)')),
            createWriteStream(rawFile),
          );
        } finally {
          await bench.db.client.releaseConnection(connection);
        }
      });
      raw.push(copied.ms);
      // The export's first statement alone (the join into hs_matches), to split its time into
      // the join the raw COPY does not do and the labelling, sorting and streaming after it.
      const joined = await timed(() =>
        bench.db.transaction(
          async (trx) => {
            await trx.raw("set local work_mem = '256MB'");
            await trx.raw('set local jit = off');
            await trx.raw(CREATE_MATCHES, joinBindingsFor(cohort, definition, AS_OF));
          },
          { isolationLevel: 'repeatable read' },
        ),
      );
      join.push(joined.ms);
    }
    // Parquet, with the RSS sampled while it writes: it holds one row group, not the cohort.
    const parquet: number[] = [];
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);
    const parquetFile = path.join(dir, 'export.parquet');
    try {
      for (let run = 0; run < RUNS; run++) {
        const exported = await timed(() =>
          exportEvaluation(bench.db, { cohort, definition, asOf: AS_OF, out: parquetFile, format: 'parquet' }),
        );
        if (exported.result.rows !== rows) throw new Error(`the Parquet export wrote ${exported.result.rows} rows, the CSV ${rows}`);
        parquet.push(exported.ms);
      }
    } finally {
      clearInterval(sampler);
    }
    const sameBytes = (await sha256(oursFile)) === (await sha256(rawFile));
    if (!sameBytes) throw new Error('the export and the raw COPY of the same joined rows wrote different files');
    const oursRate = rows / (best(ours) / 1000);
    const rawRate = rows / (best(raw) / 1000);
    log(
      `hindsight export: ${ours.map((ms) => ms.toFixed(0)).join('/')} ms; ` +
        `raw COPY of the joined rows: ${raw.map((ms) => ms.toFixed(0)).join('/')} ms (best of ${RUNS}); the files are byte-identical`,
    );
    const parquetRate = rows / (best(parquet) / 1000);
    const parquetBytes = (await stat(parquetFile)).size;
    log(`of which the join (hs_matches) alone: ${join.map((ms) => ms.toFixed(0)).join('/')} ms`);
    log(
      `hindsight export ${Math.round(oursRate).toLocaleString('en-US')} rows/s, ` +
        `raw COPY ${Math.round(rawRate).toLocaleString('en-US')} rows/s`,
    );
    log(
      `hindsight export --format parquet: ${parquet.map((ms) => ms.toFixed(0)).join('/')} ms, ` +
        `${Math.round(parquetRate).toLocaleString('en-US')} rows/s, ${(parquetBytes / 2 ** 20).toFixed(0)} MB ` +
        `(CSV ${((await stat(oursFile)).size / 2 ** 20).toFixed(0)} MB), peak RSS of this process ${(peakRss / 2 ** 20).toFixed(0)} MB`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'export',
        rows,
        ratio: Number((oursRate / rawRate).toFixed(3)),
        export_rows_per_s: Math.round(oursRate),
        raw_copy_rows_per_s: Math.round(rawRate),
        parquet_ratio: Number((parquetRate / rawRate).toFixed(3)),
        parquet_rows_per_s: Math.round(parquetRate),
        parquet_rss_mb: Math.round(peakRss / 2 ** 20),
        same_bytes: sameBytes,
        export_ms: Math.round(best(ours)),
        join_ms: Math.round(best(join)),
        raw_copy_ms: Math.round(best(raw)),
        // The best ratio an export that has to join could reach: the join, then COPY at raw speed.
        join_then_raw_ratio: Number((best(raw) / (best(join) + best(raw))).toFixed(3)),
        load_avg: Number(os.loadavg()[0]!.toFixed(1)),
      })}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:export failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
