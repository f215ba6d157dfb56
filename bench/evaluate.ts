/**
 * `npm run bench:evaluate`: the evaluation target (≤ 3× the bare join). One cohort of 1M predictions and
 * ~100k outcomes mixing the three join paths, two slice dimensions, the full metric suite
 * through the real `evaluateCohort`, against the bare join-and-count query over the same
 * rows in the same run. The evaluation runs in a child process so its peak RSS is its own.
 * Last line: `{"bench":"evaluate","rows":…,"ratio":…,"rss_mb":…}` (targets: ratio ≤ 3, RSS ≤ 300 MB).
 *
 * BENCH_ROWS overrides the cohort size; BENCH_DATABASE_ADMIN_URL the server (default the
 * machine's Postgres, trust auth). The bench database is dropped afterwards unless
 * BENCH_KEEP_DATABASE=1 (then its name is printed, for EXPLAIN).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { evaluateCohort } from '../activities/evaluate-cohort';
import { labelDefinitionSchema } from '../activities/label-definitions';
import { migrate } from '../sql/migrate';
import { createDatabase } from '../workers/database';

const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
/** 0 = continuous scores; N = scores rounded to N levels (a model that emits coarse scores). */
const SCORE_LEVELS = Number(process.env.HINDSIGHT_BENCH_SCORE_LEVELS ?? 0);
const START = '2026-01-01T00:00:00.000Z';
const END = '2026-01-31T00:00:00.000Z';
const AS_OF = '2026-03-15T00:00:00.000Z';
const COHORT = { model_name: 'bench', model_version: 'v1', environment: null, start: START, end: END };
const DEFINITION = labelDefinitionSchema.parse({
  name: 'bench-chargeback',
  version: 1,
  model_name: 'bench',
  task: 'binary',
  window: 'P30D',
  checkpoints: ['P7D'],
  positive_outcome_types: ['chargeback'],
  negative_outcome_types: ['review_ok'],
  absent_means: 'negative',
  entity_key: 'user_id',
  slices: ['region', 'segment.device'],
});

/** Predictions by generate_series: a third carry request_id + item_id; users are re-scored ~5 times. */
const LOAD_PREDICTIONS = `
insert into predictions (prediction_id, model_name, model_version, entity_ids, ts_pred, score, request_id, item_id,
                         environment, region, segment, features, content_hash)
select md5('p' || i)::uuid, 'bench', 'v1',
       jsonb_build_object('user_id', 'u' || (i % :users), 'transaction_id', 't' || i),
       :start::timestamptz + (i::float8 / :rows) * interval '30 days',
       -- Continuous scores (about one distinct value per prediction), as real models emit;
       -- HINDSIGHT_BENCH_SCORE_LEVELS=1024 rounds them to that many levels instead.
       case when :score_levels > 0 then round(((hashtext('s' || i)::bigint & 2147483647) / 2147483647.0) * (:score_levels - 1)) / (:score_levels - 1)
            else (hashtext('s' || i)::bigint & 2147483647) / 2147483647.0 end,
       case when i % 3 = 0 then 'r' || i end, case when i % 3 = 0 then 'item' || (i % 7) end,
       case when i % 10 = 0 then 'shadow' else 'prod' end,
       case when i % 2 = 0 then 'eu' else 'us' end,
       jsonb_build_object('device', (array['ios', 'android', 'web'])[1 + i % 3]),
       jsonb_build_object('amount', (hashtext('a' || i) & 4095)),
       'bench'
from generate_series(1, :rows) as g(i)`;

/**
 * ~100k outcomes: 4% of predictions by prediction_id, 3% by request_id + item_id, 3% by
 * user only. Events fall from a day before to 40 days after the prediction, so some leak
 * and some miss the 30-day window; a positive is likelier the higher the score.
 */
const LOAD_OUTCOMES = `
insert into outcomes (outcome_id, prediction_id, entity_ids, request_id, item_id, outcome_type, value, ts_event, ts_received, content_hash)
select 'o' || i,
       case when path = 0 then prediction_id end,
       case when path = 2 then jsonb_build_object('user_id', entity_ids ->> 'user_id') else '{}'::jsonb end,
       case when path = 1 then request_id end, case when path = 1 then item_id end,
       case when (hashtext('y' || i) & 1023) / 1023.0 < score then 'chargeback' else 'review_ok' end,
       hashtext('v' || i) & 1023,
       ts_event, ts_event + ((hashtext('r' || i) & 1023) / 1023.0) * interval '5 days', 'bench'
from (
  select row_number() over () as i, p.*,
         case when h % 100 < 4 then 0 when h % 100 < 7 and p.request_id is not null then 1 else 2 end as path,
         p.ts_pred + (((hashtext('e' || p.prediction_id) & 1023) / 1023.0) * 41 - 1) * interval '1 day' as ts_event
  from (select p.*, hashtext('o' || p.prediction_id) & 2147483647 as h from predictions p) p
  where p.h % 100 < 10
) s`;

/** What an analyst would write first: the cohort's predictions, each path an equality join, counted. */
const BARE_JOIN_AND_COUNT = `
with cohort as (
  select prediction_id, request_id, item_id, entity_ids ->> 'user_id' as entity
  from predictions
  where model_name = :model and model_version = :version and ts_pred >= :start::timestamptz and ts_pred < :end::timestamptz
)
select (select count(*) from cohort) as n,
       (select count(*) from cohort c join outcomes o on o.prediction_id = c.prediction_id) as by_prediction_id,
       (select count(*) from cohort c join outcomes o on o.request_id = c.request_id and o.item_id = c.item_id
        where o.prediction_id is null) as by_request_item,
       (select count(*) from cohort c join outcomes o on o.entity_ids ->> 'user_id' = c.entity
        where o.prediction_id is null and o.item_id is null) as by_entity`;

async function ensurePartitions(db: Knex): Promise<void> {
  const present = (await db.raw("select to_regproc('hindsight_ensure_month_partition') is not null as present")).rows[0].present;
  if (!present) return;
  for (const table of ['predictions', 'outcomes']) {
    for (const month of ['2025-12', '2026-01', '2026-02', '2026-03', '2026-04']) {
      await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', [table, `${month}-01T00:00:00Z`]);
    }
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = process.hrtime.bigint();
  const result = await work();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, result };
}


/** The child: one evaluation, reporting its own wall time and peak RSS. */
async function runChild(url: string): Promise<void> {
  const db = createDatabase(url, { maxConnections: 2 });
  try {
    const { ms, result } = await timed(() => evaluateCohort(db, COHORT, DEFINITION, AS_OF));
    const rssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`${JSON.stringify({ ms, rss_mb: rssMb, n: result.overall.n, join: result.join })}\n`);
  } finally {
    await db.destroy();
  }
}

async function runParent(): Promise<void> {
  const name = `hindsight_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`create database "${name}"`);
  const db = createDatabase(url, { maxConnections: 2 });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    await migrate(db);
    await ensurePartitions(db);
    const load = await timed(async () => {
      await db.raw(LOAD_PREDICTIONS, { rows: ROWS, users: Math.max(1, Math.floor(ROWS / 5)), start: START, score_levels: SCORE_LEVELS });
      await db.raw(LOAD_OUTCOMES);
      // VACUUM as well: it flushes the GIN pending list that a bulk load leaves behind.
      await db.raw('vacuum analyze');
    });
    const outcomes = Number((await db.raw('select count(*) as n from outcomes')).rows[0].n);
    log(`loaded ${ROWS} predictions and ${outcomes} outcomes in ${(load.ms / 1000).toFixed(1)} s`);

    const bareRuns: number[] = [];
    for (let run = 0; run < 3; run++) {
      const bare = await timed(() => db.raw(BARE_JOIN_AND_COUNT, { model: COHORT.model_name, version: COHORT.model_version, start: START, end: END }));
      bareRuns.push(bare.ms);
      if (run === 0) log(`bare join-and-count: ${JSON.stringify(bare.result.rows[0])}`);
    }
    const evaluations: Array<{ ms: number; rss_mb: number; n: number; join: unknown }> = [];
    for (let run = 0; run < 3; run++) {
      const { stdout } = await promisify(execFile)(process.execPath, [__filename, 'child'], {
        env: { ...process.env, BENCH_CHILD_DATABASE_URL: url },
        maxBuffer: 1 << 20,
      });
      evaluations.push(JSON.parse(stdout.trim().split('\n').pop()!));
    }
    log(`evaluation join block: ${JSON.stringify(evaluations[0]!.join)}`);
    // The best of three on each side: the run least disturbed by whatever else the machine does.
    const bareMs = Math.min(...bareRuns);
    const evaluateMs = Math.min(...evaluations.map((run) => run.ms));
    log(`bare ${bareRuns.map((ms) => ms.toFixed(0)).join('/')} ms; evaluate ${evaluations.map((run) => run.ms.toFixed(0)).join('/')} ms (best of three each)`);
    const summary = {
      bench: 'evaluate',
      rows: evaluations[0]!.n,
      outcomes,
      bare_ms: Math.round(bareMs),
      evaluate_ms: Math.round(evaluateMs),
      ratio: Number((evaluateMs / bareMs).toFixed(2)),
      rss_mb: Number(Math.max(...evaluations.map((run) => run.rss_mb)).toFixed(1)),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await db.destroy();
    if (process.env.BENCH_KEEP_DATABASE === '1') log(`kept bench database ${name}`);
    else await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
  }
}

const childUrl = process.env.BENCH_CHILD_DATABASE_URL;
(process.argv[2] === 'child' && childUrl ? runChild(childUrl) : runParent()).catch((error: unknown) => {
  process.stderr.write(`bench:evaluate failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
