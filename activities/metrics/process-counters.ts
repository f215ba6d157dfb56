/**
 * What this process has done, for `GET /metrics` (docs/dashboards.md): records ingested by
 * kind and result, evaluations by result and their duration. Ingest and the lifecycle
 * adapter count here; nothing is kept until a metrics endpoint enables the counters, so a
 * one-off command neither loads prom-client nor holds any state.
 */
import type { Counter, Histogram, Registry } from 'prom-client';
import { RECORD_KINDS, type RecordKind } from '../../contracts/records';

type PromClient = typeof import('prom-client');

/** How an ingested line ended: stored, already stored (same content), refused as a conflict, or rejected as invalid. */
export const INGEST_RESULTS = ['accepted', 'duplicate', 'conflict', 'rejected'] as const;
/** How an evaluation ended: a snapshot stored, a revision with no label changed (nothing stored), or a failure. */
export const EVALUATION_RESULTS = ['stored', 'unchanged', 'failed'] as const;
export type EvaluationResult = (typeof EVALUATION_RESULTS)[number];

/** Seconds: evaluations take from milliseconds (small cohorts) to minutes (millions of predictions). */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

interface Counters {
  ingested: Counter<'kind' | 'result'>;
  evaluations: Counter<'result'>;
  duration: Histogram<never>;
}

let counters: Counters | null = null;

/** Registers the process counters in `registry` (once per process; later calls keep the first). */
export function enableProcessCounters(prom: PromClient, registry: Registry): void {
  if (counters) return;
  const registers = [registry];
  counters = {
    ingested: new prom.Counter({
      name: 'hindsight_records_ingested_total',
      help: 'Records this process ingested (hindsight serve), by kind and result.',
      labelNames: ['kind', 'result'],
      registers,
    }),
    evaluations: new prom.Counter({
      name: 'hindsight_evaluations_total',
      help: 'Checkpoint evaluations and final revisions this worker ran, by result.',
      labelNames: ['result'],
      registers,
    }),
    duration: new prom.Histogram({
      name: 'hindsight_evaluation_duration_seconds',
      help: 'Wall time of the evaluations this worker ran, in seconds.',
      buckets: DURATION_BUCKETS,
      registers,
    }),
  };
  // Every series exists from the start at 0, so rate() and increase() see the first event.
  for (const kind of RECORD_KINDS) for (const result of INGEST_RESULTS) counters.ingested.inc({ kind, result }, 0);
  for (const result of EVALUATION_RESULTS) counters.evaluations.inc({ result }, 0);
}

/** Counts one ingest's lines (its result document's counts). */
export function countIngested(
  kind: RecordKind,
  result: { accepted: number; duplicates: number; conflicts: number; rejected_count: number },
): void {
  if (!counters) return;
  const { ingested } = counters;
  ingested.inc({ kind, result: 'accepted' }, result.accepted);
  ingested.inc({ kind, result: 'duplicate' }, result.duplicates);
  ingested.inc({ kind, result: 'conflict' }, result.conflicts);
  ingested.inc({ kind, result: 'rejected' }, result.rejected_count);
}

/** Runs an evaluation, counting it by `resultOf` its value (or `failed`) and timing it. */
export async function countEvaluation<T>(resultOf: (value: T) => EvaluationResult, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let result: EvaluationResult = 'failed';
  try {
    const value = await work();
    result = resultOf(value);
    return value;
  } finally {
    counters?.evaluations.inc({ result });
    counters?.duration.observe((performance.now() - started) / 1000);
  }
}
