/**
 * `npm run bench:scale`: how the evaluation grows with the cohort. For each size of
 * BENCH_SCALE_ROWS (default 1M, 3M and 10M predictions, ~10% with an outcome, the
 * `bench:evaluate` data), in one run: a fresh database, the bare join-and-count and the
 * full evaluation (in a child process, best of BENCH_SCALE_RUNS, default 2, with the time of
 * each of its steps: join, labels, join counts, totals, ranks), the PostgreSQL
 * temp-file bytes each wrote (`pg_stat_database.temp_bytes` of the bench database), the
 * worker's peak RSS and the evaluating backend's. Last line: `{"bench":"scale","rows":[…],
 * "slope":…,"ratio_at_max":…,"rss_mb":…}`, `slope` being the least-squares slope of
 * log(evaluation time) over log(rows) (targets: slope ≤ 1.15, ratio at 10M ≤ 3.5, RSS ≤ 300 MB).
 */
import os from 'node:os';
import type { Knex } from 'knex';
import {
  AS_OF,
  COHORT_MONTHS,
  END,
  START,
  bareJoinRuns,
  best,
  createBenchDatabase,
  evaluateInChild,
  loadCohort,
  log,
  positiveSetting,
  settle,
  timed,
  type ChildEvaluation,
  type GeneratedCohort,
} from './evaluation-data';

const SIZES = (process.env.BENCH_SCALE_ROWS ?? '1000000,3000000,10000000').split(',').map((size) => {
  const rows = Number(size);
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`BENCH_SCALE_ROWS must list positive integers, not ${size}`);
  return rows;
});
const RUNS = positiveSetting('BENCH_SCALE_RUNS', 2);

/** temp_bytes as the statistics system last heard it (each backend reports when it ends). */
async function tempBytes(db: Knex): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await db.raw('select pg_stat_clear_snapshot()');
  return Number((await db.raw('select temp_bytes from pg_stat_database where datname = current_database()')).rows[0].temp_bytes);
}

interface SizeResult {
  rows: number;
  outcomes: number;
  bare_ms: number;
  evaluate_ms: number;
  ratio: number;
  bare_temp_mb: number;
  evaluate_temp_mb: number;
  rss_mb: number;
  backend_peak_mb: number | null;
  /** The fastest evaluation's milliseconds per step (./evaluate-child). */
  steps_ms: Record<string, number>;
  /** The machine's 1-minute load average after the evaluations (the figures are of a shared machine). */
  load_avg: number;
}

const mb = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

async function measure(rows: number): Promise<SizeResult> {
  const cohort: GeneratedCohort = { model: 'bench', prefix: '', rows, start: START, end: END };
  const bench = await createBenchDatabase(COHORT_MONTHS);
  try {
    const load = await timed(async () => {
      await loadCohort(bench.db, cohort);
      await settle(bench.db);
    });
    const outcomes = Number((await bench.db.raw('select count(*) as n from outcomes')).rows[0].n);
    log(
      `${rows.toLocaleString('en-US')} predictions, ` +
        `${outcomes.toLocaleString('en-US')} outcomes loaded in ${(load.ms / 1000).toFixed(0)} s`,
    );
    // The bare query runs on this process's pool; its backend reports temp bytes at transaction end.
    const bareStart = await tempBytes(bench.db);
    const bare = await bareJoinRuns(bench.db, cohort, RUNS);
    const bareTemp = ((await tempBytes(bench.db)) - bareStart) / RUNS;
    const evaluations: ChildEvaluation[] = [];
    let evaluateTemp = 0;
    for (let run = 0; run < RUNS; run++) {
      const before = await tempBytes(bench.db);
      evaluations.push(await evaluateInChild(bench.url, cohort, AS_OF));
      evaluateTemp = Math.max(evaluateTemp, (await tempBytes(bench.db)) - before);
    }
    const bareMs = best(bare.ms);
    const evaluateMs = best(evaluations.map((run) => run.ms));
    const fastest = evaluations.find((run) => run.ms === evaluateMs)!;
    const peaks = evaluations.map((run) => run.backend_peak_mb).filter((peak): peak is number => peak !== null);
    const result: SizeResult = {
      rows: evaluations[0]!.n,
      outcomes,
      bare_ms: Math.round(bareMs),
      evaluate_ms: Math.round(evaluateMs),
      ratio: Number((evaluateMs / bareMs).toFixed(2)),
      bare_temp_mb: mb(bareTemp),
      evaluate_temp_mb: mb(evaluateTemp),
      rss_mb: Number(Math.max(...evaluations.map((run) => run.rss_mb)).toFixed(1)),
      backend_peak_mb: peaks.length > 0 ? Math.round(Math.max(...peaks)) : null,
      steps_ms: fastest.steps_ms,
      load_avg: Number(os.loadavg()[0]!.toFixed(1)),
    };
    log(
      `  bare ${bare.ms.map((ms) => ms.toFixed(0)).join('/')} ms, ` +
        `evaluate ${evaluations.map((run) => run.ms.toFixed(0)).join('/')} ms: ${JSON.stringify(result)}`,
    );
    return result;
  } finally {
    await bench.drop();
  }
}

/** Least-squares slope of log(y) over log(x): the growth exponent. */
function logLogSlope(points: Array<[number, number]>): number {
  const xs = points.map(([x]) => Math.log(x));
  const ys = points.map(([, y]) => Math.log(y));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i]! - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return num / den;
}

async function main(): Promise<void> {
  const results: SizeResult[] = [];
  for (const rows of SIZES) results.push(await measure(rows));
  const largest = results.at(-1)!;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'scale',
      rows: results,
      slope: results.length > 1 ? Number(logLogSlope(results.map((r) => [r.rows, r.evaluate_ms])).toFixed(3)) : null,
      bare_slope: results.length > 1 ? Number(logLogSlope(results.map((r) => [r.rows, r.bare_ms])).toFixed(3)) : null,
      ratio_at_max: largest.ratio,
      rss_mb: Math.max(...results.map((r) => r.rss_mb)),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:scale failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
