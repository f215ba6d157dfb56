/**
 * `npm run bench:join-keys`: what joining outcomes by entity key costs next to joining them by
 * prediction id, on modest data. Two models, each with a month of its own that nothing was
 * stored in before and autovacuum off on every partition (so only ingest can have left
 * statistics), each month stored as BENCH_JOIN_CHUNKS (default 6) chunks of BENCH_JOIN_ROWS
 * (default 5,000) predictions, one ingest per chunk, an outcome for every fifth prediction:
 * one model's outcomes carry the prediction_id, the other's only the user (`entity_key:
 * user_id`), the same predictions and event times otherwise. The middle chunk of each is
 * evaluated right after ingest, best of BENCH_JOIN_RUNS (default 3); the entity-keyed time
 * over the prediction-id time is the ratio (target ≤ 2), and the join counts' own times are
 * printed too. Then the ingest-analyze effect: the entity-keyed rows copied into a later month
 * by plain inserts (no statistics, the entity index's pending list unmerged: what a month of
 * small ingests used to be) and that cohort evaluated once, and the entity-keyed cohort again
 * after a full VACUUM ANALYZE (right after ingest should be as quick).
 * Last line: `{"bench":"join-keys","rows":…,"by_prediction_id_ms":…,"by_entity_ms":…,
 * "ratio":…,"target_ratio":2,"join_counts_by_prediction_id_ms":…,"join_counts_by_entity_ms":…,"join_counts_ratio":…,
 * "without_ingest_ms":…,"after_ingest_ms":…,"after_full_analyze_ms":…,"analyzed_by_ingest":[…]}`.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { ingestRecords } from '../activities/ingest/ingest-records';
import { evaluateCohort } from '../activities/evaluate/evaluate-cohort';
import type { CohortSelector } from '../contracts/cohort';
import { labelDefinitionSchema, type LabelDefinition } from '../contracts/label-definition';
import type { EvaluationDocument } from '../contracts/evaluation';
import { best, createBenchDatabase, log, positiveSetting, timed } from './evaluation-data';

const ROWS = positiveSetting('BENCH_JOIN_ROWS', 5_000);
const RUNS = positiveSetting('BENCH_JOIN_RUNS', 3);
/** Chunks of the model's month, stored one ingest each; the cohort evaluated is the middle one. */
const CHUNKS = positiveSetting('BENCH_JOIN_CHUNKS', 6);
const TARGET_RATIO = 2;
const DAY = 86_400_000;

/** The two models: the same shape, a month each (months no other rows are in). */
const COHORTS = {
  by_prediction_id: { model: 'keyed-by-id', month: '2026-01-01T00:00:00.000Z' },
  by_entity: { model: 'keyed-by-entity', month: '2026-03-01T00:00:00.000Z' },
  /** A copy of by_entity's rows 92 days later (June), stored by plain inserts: no ingest. */
  blind: { model: 'keyed-by-entity-blind', month: '2026-06-01T00:00:00.000Z' },
} as const;
type Keying = keyof typeof COHORTS;
const INGESTED: Keying[] = ['by_prediction_id', 'by_entity'];
const EVALUATED_CHUNK = Math.floor(CHUNKS / 2);

/** Chunk `chunk` of the month: 30 days split evenly. */
function chunkBounds(keying: Keying, chunk: number): { start: string; end: string } {
  const month = Date.parse(COHORTS[keying].month);
  const days = 30 / CHUNKS;
  return {
    start: new Date(month + chunk * days * DAY).toISOString(),
    end: new Date(month + (chunk + 1) * days * DAY).toISOString(),
  };
}
const MONTHS = ['2026-01', '2026-02', '2026-03', '2026-04', '2026-05', '2026-06', '2026-07', '2026-08'];

function definitionFor(model: string): LabelDefinition {
  return labelDefinitionSchema.parse({
    name: `bench-${model}`,
    version: 1,
    model_name: model,
    task: 'binary',
    window: 'P30D',
    checkpoints: ['P7D'],
    positive_outcome_types: ['chargeback'],
    negative_outcome_types: ['review_ok'],
    absent_means: 'negative',
    entity_key: 'user_id',
  });
}

const selectorFor = (keying: Keying): CohortSelector => ({
  model_name: COHORTS[keying].model,
  model_version: 'v1',
  environment: null,
  ...chunkBounds(keying, EVALUATED_CHUNK),
});

/** As of two weeks after the last label window closed: every outcome known. */
const asOfFor = (keying: Keying) => new Date(Date.parse(chunkBounds(keying, EVALUATED_CHUNK).end) + 44 * DAY).toISOString();

/** A deterministic number in [0, 1) from an index and a salt. */
function unit(i: number, salt: number): number {
  const x = Math.sin(i * 12.9898 + salt * 78.233) * 43758.5453;
  return x - Math.floor(x);
}

/**
 * One chunk of the model's month: `ROWS` predictions spread over its days, users re-scored
 * ~5 times across the month, and an outcome for every fifth prediction, its event from a day
 * before to 40 days after the prediction (some leak, some miss the window), received up to
 * three days later, a chargeback likelier the higher the score. Keyed by entity, the outcome
 * carries only `user_id`; keyed by id, only the prediction_id.
 */
function chunkRows(keying: Keying, chunk: number): { predictions: object[]; outcomes: object[] } {
  const { model } = COHORTS[keying];
  const { start, end } = chunkBounds(keying, chunk);
  const span = Date.parse(end) - Date.parse(start);
  const users = Math.max(1, Math.floor((ROWS * CHUNKS) / 5));
  const predictions = Array.from({ length: ROWS }, (_, k) => {
    const i = chunk * ROWS + k;
    return {
      prediction_id: randomUUID(),
      model_name: model,
      model_version: 'v1',
      environment: 'production',
      ts_pred: new Date(Date.parse(start) + Math.floor((k / ROWS) * span)).toISOString(),
      score: unit(i, 1),
      entity_ids: { user_id: `u${(i * 7919) % users}` },
    };
  });
  const outcomes = predictions
    .filter((_, k) => k % 5 === 0)
    .map((p, k) => {
      const j = chunk * ROWS + k;
      return {
        outcome_id: `${model}-o${j}`,
        ...(keying === 'by_entity' ? { entity_ids: { user_id: p.entity_ids.user_id } } : { prediction_id: p.prediction_id }),
        outcome_type: unit(j, 2) < p.score ? 'chargeback' : 'review_ok',
        ts_event: new Date(Date.parse(p.ts_pred) + Math.floor((unit(j, 3) * 41 - 1) * DAY)).toISOString(),
        ts_received: new Date(Date.parse(p.ts_pred) + Math.floor((unit(j, 3) * 41 + unit(j, 4) * 3) * DAY)).toISOString(),
      };
    });
  return { predictions, outcomes };
}

/** by_entity's predictions and outcomes again, 92 days later under another model name, by plain inserts. */
const COPY_WITHOUT_INGEST = `
with copied as (
  insert into predictions (prediction_id, model_name, model_version, environment, entity_ids, ts_pred, score, content_hash)
  select gen_random_uuid(), :to, model_version, environment, entity_ids, ts_pred + interval '92 days', score, 'bench'
  from predictions where model_name = :from
  returning 1
)
insert into outcomes (outcome_id, entity_ids, outcome_type, ts_event, ts_received, content_hash)
select 'blind-' || outcome_id, entity_ids, outcome_type, ts_event + interval '92 days', ts_received + interval '92 days', 'bench'
from outcomes where outcome_id like :from || '-o%' and (select count(*) from copied) > 0`;

async function ingest(db: Knex, kind: 'predictions' | 'outcomes', records: object[]): Promise<void> {
  const batch = records.map((value, i) => ({ line: i + 1, text: JSON.stringify(value), value }));
  const result = await ingestRecords(db, kind, [batch]);
  if (result.rejected_count > 0) throw new Error(`${kind}: ${result.rejected_count} rejected, e.g. ${JSON.stringify(result.rejected[0])}`);
}

/** Milliseconds of the evaluation and of its join counts (the statement starting `with in_reach`). */
async function evaluateTimed(db: Knex, keying: Keying): Promise<{ ms: number; joinCountsMs: number; document: EvaluationDocument }> {
  const started = new Map<string, bigint>();
  let joinCountsMs = 0;
  const onQuery = (query: { __knexQueryUid: string }) => started.set(query.__knexQueryUid, process.hrtime.bigint());
  const onResponse = (_response: unknown, query: { __knexQueryUid: string; sql: string }) => {
    if (/^\s*with in_reach\b/.test(query.sql)) joinCountsMs += Number(process.hrtime.bigint() - started.get(query.__knexQueryUid)!) / 1e6;
  };
  db.on('query', onQuery);
  db.on('query-response', onResponse);
  try {
    const { ms, result } = await timed(() =>
      evaluateCohort(db, selectorFor(keying), definitionFor(COHORTS[keying].model), asOfFor(keying)),
    );
    return { ms, joinCountsMs, document: result };
  } finally {
    db.off('query', onQuery);
    db.off('query-response', onResponse);
  }
}

async function bestOf(db: Knex, keying: Keying): Promise<{ ms: number; joinCountsMs: number; document: EvaluationDocument }> {
  const runs = [];
  for (let run = 0; run < RUNS; run++) runs.push(await evaluateTimed(db, keying));
  return {
    ms: best(runs.map((r) => r.ms)),
    joinCountsMs: best(runs.map((r) => r.joinCountsMs)),
    document: runs[0]!.document,
  };
}

async function analyzedMonths(db: Knex): Promise<string[]> {
  const { rows } = await db.raw<{ rows: Array<{ relname: string }> }>(
    `select relname from pg_stat_user_tables where last_analyze is not null and relname ~ '^(predictions|outcomes)_2026_' order by 1`,
  );
  return rows.map((row) => row.relname);
}

async function main(): Promise<void> {
  const bench = await createBenchDatabase(MONTHS);
  try {
    // Autovacuum off on every month: any statistics the evaluation finds, ingest left.
    const { rows } = await bench.db.raw<{ rows: Array<{ name: string }> }>(
      `select c.oid::regclass::text as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent in ('predictions'::regclass, 'outcomes'::regclass)`,
    );
    for (const { name } of rows) await bench.db.raw(`alter table ${name} set (autovacuum_enabled = false)`);

    const ingestMs: Record<string, number> = {};
    for (const keying of INGESTED) {
      ingestMs[keying] = (
        await timed(async () => {
          for (let chunk = 0; chunk < CHUNKS; chunk++) {
            const data = chunkRows(keying, chunk);
            await ingest(bench.db, 'predictions', data.predictions);
            await ingest(bench.db, 'outcomes', data.outcomes);
          }
        })
      ).ms;
      log(
        `${keying}: ingested ${CHUNKS} chunks of ${ROWS.toLocaleString('en-US')} predictions (an outcome for every fifth), one ingest each, in ${ingestMs[keying]!.toFixed(0)} ms`,
      );
    }
    const analyzed = await analyzedMonths(bench.db);
    log(`months ingest analyzed: ${analyzed.join(', ') || 'none'}`);

    const byId = await bestOf(bench.db, 'by_prediction_id');
    const byEntity = await bestOf(bench.db, 'by_entity');
    log(`keyed by prediction id: evaluation ${byId.ms.toFixed(1)} ms, join counts ${byId.joinCountsMs.toFixed(1)} ms (best of ${RUNS})`);
    log(`  join: ${JSON.stringify(byId.document.join)}`);
    log(
      `keyed by entity:        evaluation ${byEntity.ms.toFixed(1)} ms, join counts ${byEntity.joinCountsMs.toFixed(1)} ms (best of ${RUNS})`,
    );
    log(`  join: ${JSON.stringify(byEntity.document.join)}`);
    const ratio = byEntity.ms / byId.ms;
    const joinCountsRatio = byEntity.joinCountsMs / byId.joinCountsMs;
    log(`entity / prediction id = ${ratio.toFixed(2)} (target ≤ ${TARGET_RATIO}); join counts alone ${joinCountsRatio.toFixed(2)}`);

    // The same rows as a month looks without what ingest now does after loading (no
    // statistics, the GIN pending list unmerged): what every month of small ingests was.
    await bench.db.raw(COPY_WITHOUT_INGEST, { from: COHORTS.by_entity.model, to: COHORTS.blind.model });
    const blind = await evaluateTimed(bench.db, 'blind');
    if (JSON.stringify(blind.document.join) !== JSON.stringify(byEntity.document.join))
      throw new Error(`the copied month joins differently: ${JSON.stringify(blind.document.join)}`);
    log(
      `ingest-analyze effect: the entity-keyed cohort in a month stored without ingest (no statistics, pending list unmerged): ${blind.ms.toFixed(1)} ms, join counts ${blind.joinCountsMs.toFixed(1)} ms; right after ingest ${byEntity.ms.toFixed(1)} ms (${(blind.ms / byEntity.ms).toFixed(1)}×)`,
    );
    await bench.db.raw('vacuum analyze predictions, outcomes');
    const afterAnalyze = await bestOf(bench.db, 'by_entity');
    log(
      `after a full VACUUM ANALYZE: ${afterAnalyze.ms.toFixed(1)} ms (right after ingest / after it = ${(byEntity.ms / afterAnalyze.ms).toFixed(2)})`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'join-keys',
        rows: ROWS,
        by_prediction_id_ms: Number(byId.ms.toFixed(1)),
        by_entity_ms: Number(byEntity.ms.toFixed(1)),
        ratio: Number(ratio.toFixed(2)),
        target_ratio: TARGET_RATIO,
        join_counts_by_prediction_id_ms: Number(byId.joinCountsMs.toFixed(1)),
        join_counts_by_entity_ms: Number(byEntity.joinCountsMs.toFixed(1)),
        join_counts_ratio: Number(joinCountsRatio.toFixed(2)),
        without_ingest_ms: Number(blind.ms.toFixed(1)),
        after_ingest_ms: Number(byEntity.ms.toFixed(1)),
        after_full_analyze_ms: Number(afterAnalyze.ms.toFixed(1)),
        analyzed_by_ingest: analyzed,
      })}\n`,
    );
  } finally {
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:join-keys failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
