/**
 * The child process of the evaluation benchmarks (./evaluation-data `evaluateInChild`): one
 * real `evaluateCohort`, reporting its wall time, this process's peak RSS and a hash of the
 * whole document (so two runs can be shown to give the same numbers) as one JSON line, and the
 * peak RSS of the PostgreSQL backend that ran it (`VmHWM`, shared buffers it touched included;
 * readable when the server runs on this machine, else null).
 * Input: BENCH_CHILD_DATABASE_URL and BENCH_CHILD_INPUT (`{cohort, definition, as_of}`).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { evaluateCohort } from '../activities/evaluate-cohort';
import { labelDefinitionSchema } from '../activities/label-definitions';
import { createDatabase } from '../workers/database';
import { timed } from './evaluation-data';

async function main(): Promise<void> {
  const url = process.env.BENCH_CHILD_DATABASE_URL;
  const input = process.env.BENCH_CHILD_INPUT;
  if (!url || !input) throw new Error('BENCH_CHILD_DATABASE_URL and BENCH_CHILD_INPUT are set by the benchmark that runs this');
  const { cohort, definition, as_of: asOf } = JSON.parse(input);
  // One connection, so the backend asked for its pid is the one that evaluates.
  const db = createDatabase(url, { maxConnections: 1 });
  try {
    const backendPid = (await db.raw('select pg_backend_pid() as pid')).rows[0].pid as number;
    const { ms, result } = await timed(() => evaluateCohort(db, cohort, labelDefinitionSchema.parse(definition), asOf));
    const backendPeakMb = await peakRssMb(backendPid);
    const digest = createHash('sha256').update(JSON.stringify(result)).digest('hex');
    const rssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`${JSON.stringify({ ms, rss_mb: rssMb, n: result.overall.n, join: result.join, digest, backend_peak_mb: backendPeakMb })}\n`);
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
