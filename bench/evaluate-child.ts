/**
 * The child process of the evaluation benchmarks (./evaluation-data `evaluateInChild`): one
 * real `evaluateCohort`, reporting its wall time, this process's peak RSS and a hash of the
 * whole document (so two runs can be shown to give the same numbers) as one JSON line, and the
 * peak RSS of the PostgreSQL backend that ran it (`VmHWM`, shared buffers it touched included;
 * readable when the server runs on this machine, else null), and the time of each step of
 * the evaluation (knex's query events, named in {@link STEPS}) so a benchmark can say
 * where the time went at each size.
 * Input: BENCH_CHILD_DATABASE_URL and BENCH_CHILD_INPUT (`{cohort, definition, as_of}`).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { evaluateCohort } from '../activities/evaluate/evaluate-cohort';
import { labelDefinitionSchema } from '../contracts/label-definition';
import { createDatabase } from '../workers/database';
import { timed } from './evaluation-data';

/**
 * The evaluation's statements by what they do: the temp table a statement creates, else its
 * first common table expression (see sql/join-outcomes and sql/binary-metrics).
 */
const STEPS: Record<string, string> = {
  hs_matches: 'join',
  hs_labeled: 'labels',
  in_reach: 'join_counts',
  combos: 'totals',
  src: 'ranks',
};

function stepOf(sql: string): string {
  const match = /^\s*(?:create temp table (\w+)|with (\w+))/i.exec(sql);
  return STEPS[match?.[1] ?? match?.[2] ?? ''] ?? 'other';
}

/** Milliseconds per step of every query `db` runs from now on. */
function timeSteps(db: ReturnType<typeof createDatabase>): Record<string, number> {
  const steps: Record<string, number> = {};
  const started = new Map<string, bigint>();
  db.on('query', (query: { __knexQueryUid: string }) => started.set(query.__knexQueryUid, process.hrtime.bigint()));
  db.on('query-response', (_response: unknown, query: { __knexQueryUid: string; sql: string }) => {
    const ms = Number(process.hrtime.bigint() - started.get(query.__knexQueryUid)!) / 1e6;
    const step = stepOf(query.sql);
    steps[step] = Math.round((steps[step] ?? 0) + ms);
  });
  return steps;
}

async function main(): Promise<void> {
  const url = process.env.BENCH_CHILD_DATABASE_URL;
  const input = process.env.BENCH_CHILD_INPUT;
  if (!url || !input) throw new Error('BENCH_CHILD_DATABASE_URL and BENCH_CHILD_INPUT are set by the benchmark that runs this');
  const { cohort, definition, as_of: asOf } = JSON.parse(input);
  // One connection, so the backend asked for its pid is the one that evaluates.
  const db = createDatabase(url, { maxConnections: 1 });
  try {
    const backendPid = (await db.raw('select pg_backend_pid() as pid')).rows[0].pid as number;
    const steps = timeSteps(db);
    const { ms, result } = await timed(() => evaluateCohort(db, cohort, labelDefinitionSchema.parse(definition), asOf));
    const backendPeakMb = await peakRssMb(backendPid);
    const digest = createHash('sha256').update(JSON.stringify(result)).digest('hex');
    const rssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(
      JSON.stringify({
        ms,
        rss_mb: rssMb,
        n: result.overall.n,
        join: result.join,
        digest,
        backend_peak_mb: backendPeakMb,
        steps_ms: steps,
      }) + '\n',
    );
  } finally {
    await db.destroy();
  }
}

async function peakRssMb(pid: number): Promise<number | null> {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`evaluation child failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
