/**
 * What the evaluation benchmarks share (`bench:evaluate`, its history mode, `bench:scale`,
 * `bench:export`): a throwaway database, cohorts generated set-based by `generate_series`
 * (never row by row from Node), the bare join-and-count an analyst would write first, and
 * the evaluation run in a child process (./evaluate-child) so its wall time and peak RSS
 * are its own.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import type { CohortSelector } from '../contracts/cohort';
import { labelDefinitionSchema, type LabelDefinition } from '../contracts/label-definition';
import { migrate } from '../sql/migrate';
import { createDatabase } from '../workers/database';

export const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const log = (line: string) => process.stderr.write(`${line}\n`);

/** A positive integer from the environment, else the default. */
export function positiveSetting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`);
  return value;
}

export interface BenchDatabase {
  name: string;
  url: string;
  db: Knex;
  /** Drops the database unless BENCH_KEEP_DATABASE=1 (then names it, for EXPLAIN). */
  drop(): Promise<void>;
}

/** A fresh, migrated database with the month partitions of `months` (YYYY-MM) on both tables. */
export async function createBenchDatabase(months: readonly string[]): Promise<BenchDatabase> {
  const name = `hindsight_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`create database "${name}"`);
  const db = createDatabase(url, { maxConnections: 2 });
  const drop = async () => {
    await db.destroy();
    if (process.env.BENCH_KEEP_DATABASE === '1') log(`kept bench database ${name}`);
    else await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
  };
  try {
    await migrate(db);
    for (const table of ['predictions', 'outcomes']) {
      for (const month of months) {
        await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', [table, `${month}-01T00:00:00Z`]);
      }
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return { name, url, db, drop };
}

/** The months the generated cohorts and their outcomes fall in (a window before to six weeks after). */
export const COHORT_MONTHS = ['2025-12', '2026-01', '2026-02', '2026-03', '2026-04'];

export const START = '2026-01-01T00:00:00.000Z';
export const END = '2026-01-31T00:00:00.000Z';
export const AS_OF = '2026-03-15T00:00:00.000Z';

export const DEFINITION = labelDefinitionSchema.parse({
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

/** One generated cohort: `rows` predictions of `model` v1 spread evenly over [start, end). */
export interface GeneratedCohort {
  model: string;
  /** Prefix of prediction ids, outcome ids and entity values, so cohorts never share one. */
  prefix: string;
  rows: number;
  start: string;
  end: string;
}

export function cohortSelector(cohort: GeneratedCohort): CohortSelector {
  return { model_name: cohort.model, model_version: 'v1', environment: null, start: cohort.start, end: cohort.end };
}

/** The bench definition for a cohort's model. */
export function definitionFor(cohort: GeneratedCohort): LabelDefinition {
  return { ...DEFINITION, model_name: cohort.model };
}

/** Predictions by generate_series: a third carry request_id + item_id; users are re-scored ~5 times. */
const LOAD_PREDICTIONS = `
insert into predictions (prediction_id, model_name, model_version, entity_ids, ts_pred, score, request_id, item_id,
                         environment, region, segment, features, content_hash)
select md5(:prefix || 'p' || i)::uuid, :model, 'v1',
       jsonb_build_object('user_id', :prefix || 'u' || (i % :users), 'transaction_id', :prefix || 't' || i),
       :start::timestamptz + (i::float8 / (:rows + 1)) * (:end::timestamptz - :start::timestamptz),
       -- Continuous scores (about one distinct value per prediction), as real models emit;
       -- HINDSIGHT_BENCH_SCORE_LEVELS=1024 rounds them to that many levels instead.
       case when :score_levels > 0
            then round(((hashtext(:prefix || 's' || i)::bigint & 2147483647) / 2147483647.0) * (:score_levels - 1)) / (:score_levels - 1)
            else (hashtext(:prefix || 's' || i)::bigint & 2147483647) / 2147483647.0 end,
       case when i % 3 = 0 then :prefix || 'r' || i end, case when i % 3 = 0 then 'item' || (i % 7) end,
       case when i % 10 = 0 then 'shadow' else 'prod' end,
       case when i % 2 = 0 then 'eu' else 'us' end,
       jsonb_build_object('device', (array['ios', 'android', 'web'])[1 + i % 3]),
       jsonb_build_object('amount', (hashtext(:prefix || 'a' || i) & 4095)),
       'bench'
from generate_series(:from_row::int, :to_row::int) as g(i)`;

/**
 * ~10% of the cohort's predictions get an outcome: 4% by prediction_id, 3% by request_id +
 * item_id, 3% by user only. Events fall from a day before to 40 days after the prediction,
 * so some leak and some miss the 30-day window; a positive is likelier the higher the score.
 */
const LOAD_OUTCOMES = `
insert into outcomes (outcome_id, prediction_id, entity_ids, request_id, item_id, outcome_type, value, ts_event, ts_received, content_hash)
select :prefix || 'o' || i,
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
  from (select p.*, hashtext('o' || p.prediction_id) & 2147483647 as h from predictions p where p.model_name = :model) p
  where p.h % 100 < 10
) s`;

/** Inserts a cohort and its outcomes, a million predictions per statement (bounded transition tables). */
export async function loadCohort(db: Knex, cohort: GeneratedCohort, scoreLevels = 0): Promise<void> {
  const chunk = 1_000_000;
  for (let from = 1; from <= cohort.rows; from += chunk) {
    await db.raw(LOAD_PREDICTIONS, {
      prefix: cohort.prefix,
      model: cohort.model,
      rows: cohort.rows,
      users: Math.max(1, Math.floor(cohort.rows / 5)),
      start: cohort.start,
      end: cohort.end,
      score_levels: scoreLevels,
      from_row: from,
      to_row: Math.min(cohort.rows, from + chunk - 1),
    });
  }
  await db.raw(LOAD_OUTCOMES, { prefix: cohort.prefix, model: cohort.model });
}

/** VACUUM as well as ANALYZE: it flushes the GIN pending list that a bulk load leaves behind. */
export async function settle(db: Knex): Promise<void> {
  await db.raw('vacuum analyze');
}

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

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = process.hrtime.bigint();
  const result = await work();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, result };
}

/** The bare join-and-count `runs` times; its times and the counts of the first run. */
export async function bareJoinRuns(db: Knex, cohort: GeneratedCohort, runs: number): Promise<{ ms: number[]; counts: unknown }> {
  const ms: number[] = [];
  let counts: unknown;
  for (let run = 0; run < runs; run++) {
    const bare = await timed(() =>
      db.raw(BARE_JOIN_AND_COUNT, { model: cohort.model, version: 'v1', start: cohort.start, end: cohort.end }),
    );
    ms.push(bare.ms);
    counts ??= bare.result.rows[0];
  }
  return { ms, counts };
}

/** What the child reports of one evaluation; `digest` is a hash of the whole document. */
export interface ChildEvaluation {
  ms: number;
  rss_mb: number;
  n: number;
  join: unknown;
  digest: string;
  backend_peak_mb: number | null;
  /** Milliseconds per step of the evaluation: join, labels, join_counts, totals, ranks, other. */
  steps_ms: Record<string, number>;
}

/** One evaluation of `cohort` as of `asOf` in a fresh Node process (./evaluate-child). */
export async function evaluateInChild(url: string, cohort: GeneratedCohort, asOf: string): Promise<ChildEvaluation> {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, 'evaluate-child.js')], {
    env: {
      ...process.env,
      BENCH_CHILD_DATABASE_URL: url,
      BENCH_CHILD_INPUT: JSON.stringify({ cohort: cohortSelector(cohort), definition: definitionFor(cohort), as_of: asOf }),
    },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as ChildEvaluation;
}

export async function evaluationRuns(url: string, cohort: GeneratedCohort, asOf: string, runs: number): Promise<ChildEvaluation[]> {
  const results: ChildEvaluation[] = [];
  for (let run = 0; run < runs; run++) results.push(await evaluateInChild(url, cohort, asOf));
  return results;
}

/** The best of several runs: the one least disturbed by whatever else the machine does. */
export const best = (values: number[]) => Math.min(...values);
