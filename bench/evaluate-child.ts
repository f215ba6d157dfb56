/**
 * The child process of the evaluation benchmarks (./evaluation-data `evaluateInChild`): one
 * real `evaluateCohort`, reporting its wall time, this process's peak RSS and a hash of the
 * whole document (so two runs can be shown to give the same numbers) as one JSON line.
 * Input: BENCH_CHILD_DATABASE_URL and BENCH_CHILD_INPUT (`{cohort, definition, as_of}`).
 */
import { createHash } from 'node:crypto';
import { evaluateCohort } from '../activities/evaluate-cohort';
import { labelDefinitionSchema } from '../activities/label-definitions';
import { createDatabase } from '../workers/database';
import { timed } from './evaluation-data';

async function main(): Promise<void> {
  const url = process.env.BENCH_CHILD_DATABASE_URL;
  const input = process.env.BENCH_CHILD_INPUT;
  if (!url || !input) throw new Error('BENCH_CHILD_DATABASE_URL and BENCH_CHILD_INPUT are set by the benchmark that runs this');
  const { cohort, definition, as_of: asOf } = JSON.parse(input);
  const db = createDatabase(url, { maxConnections: 2 });
  try {
    const { ms, result } = await timed(() => evaluateCohort(db, cohort, labelDefinitionSchema.parse(definition), asOf));
    const digest = createHash('sha256').update(JSON.stringify(result)).digest('hex');
    const rssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`${JSON.stringify({ ms, rss_mb: rssMb, n: result.overall.n, join: result.join, digest })}\n`);
  } finally {
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`evaluation child failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
