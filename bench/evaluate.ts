/**
 * `npm run bench:evaluate`: the evaluation target (≤ 3× the bare join). One cohort of 1M
 * predictions and ~100k outcomes mixing the three join paths, two slice dimensions, the full
 * metric suite through the real `evaluateCohort`, against the bare join-and-count query over
 * the same rows in the same run. The evaluation runs in a child process so its peak RSS is
 * its own. Last line: `{"bench":"evaluate","rows":…,"ratio":…,"rss_mb":…}` (targets: ratio ≤ 3,
 * RSS ≤ 300 MB).
 *
 * History mode (BENCH_HISTORY=1, or BENCH_HISTORY_OUTCOMES=N; default 10,000,000): the cost
 * must follow the cohort, not the outcome history. A large cohort (the 1M one) and a small
 * one (10k predictions in one day, a modest model's daily cohort) are evaluated, then N more
 * outcomes of the same types are added in other months, of other models' predictions and
 * other entities, and both are evaluated again in the same run; the documents must be
 * identical. Last line: `{"bench":"evaluate-history","history_outcomes":…,"growth_large":…,
 * "growth_small":…}` (growth = time with the history / time without; target ≤ 1.1 each).
 *
 * BENCH_ROWS overrides the (large) cohort size; BENCH_DATABASE_ADMIN_URL the server (default
 * the machine's Postgres, trust auth). The bench database is dropped afterwards unless
 * BENCH_KEEP_DATABASE=1 (then its name is printed, for EXPLAIN).
 */
import type { Knex } from 'knex';
import {
  AS_OF,
  COHORT_MONTHS,
  END,
  START,
  bareJoinRuns,
  best,
  createBenchDatabase,
  evaluationRuns,
  loadCohort,
  log,
  positiveSetting,
  settle,
  timed,
  type ChildEvaluation,
  type GeneratedCohort,
} from './evaluation-data';

const ROWS = positiveSetting('BENCH_ROWS', 1_000_000);
/** 0 = continuous scores; N = scores rounded to N levels (a model that emits coarse scores). */
const SCORE_LEVELS = Number(process.env.HINDSIGHT_BENCH_SCORE_LEVELS ?? 0);
const HISTORY_MODE = process.env.BENCH_HISTORY === '1' || process.env.BENCH_HISTORY_OUTCOMES !== undefined;
const HISTORY_OUTCOMES = positiveSetting('BENCH_HISTORY_OUTCOMES', 10_000_000);

const LARGE: GeneratedCohort = { model: 'bench', prefix: '', rows: ROWS, start: START, end: END };
/** A modest model's daily cohort, finalized a few days after its window ended. */
const SMALL: GeneratedCohort = {
  model: 'modest',
  prefix: 'm',
  rows: 10_000,
  start: '2026-01-15T00:00:00.000Z',
  end: '2026-01-16T00:00:00.000Z',
};
const SMALL_AS_OF = '2026-02-20T00:00:00.000Z';

/**
 * Months that hold none of either cohort's reach ([start − leakage horizon, as_of]): eleven
 * before, nine after. History outcomes fall inside them (events within 26 days of a month's start).
 */
const HISTORY_MONTHS = [
  ...Array.from({ length: 11 }, (_, m) => `2025-${String(m + 1).padStart(2, '0')}`),
  ...Array.from({ length: 9 }, (_, m) => `2026-${String(m + 4).padStart(2, '0')}`),
];
const HISTORY_MONTH_START =
  `('2025-01-01'::timestamptz + make_interval(months => ` + `case when (j % 20) < 11 then (j % 20)::int else (j % 20)::int + 4 end))`;

/** Predictions of another model, one per ten history outcomes, spread over the history months. */
const LOAD_HISTORY_PREDICTIONS = `
insert into predictions (prediction_id, model_name, model_version, entity_ids, ts_pred, score, request_id, item_id,
                         environment, region, segment, content_hash)
select md5('hp' || j)::uuid, 'history', 'v1', jsonb_build_object('user_id', 'hu' || (j % 100000)),
       ${HISTORY_MONTH_START} + ((j / 20) % 10) * interval '1 day',
       (hashtext('hs' || j)::bigint & 2147483647) / 2147483647.0, 'hr' || j, 'hitem', 'prod',
       case when j % 2 = 0 then 'eu' else 'us' end, jsonb_build_object('device', 'web'), 'bench'
from generate_series(:from_row::int, :to_row::int) as g(j)`;

/**
 * History outcomes, a third on each path: by the prediction_id of a history prediction, by its
 * request_id + item_id, or by a user no cohort has. Each falls in its prediction's month.
 */
const LOAD_HISTORY_OUTCOMES = `
insert into outcomes (outcome_id, prediction_id, entity_ids, request_id, item_id, outcome_type, value, ts_event, ts_received, content_hash)
select 'ho' || i,
       case when i % 3 = 0 then md5('hp' || j)::uuid end,
       case when i % 3 = 2 then jsonb_build_object('user_id', 'hu' || (i % 100000)) else '{}'::jsonb end,
       case when i % 3 = 1 then 'hr' || j end, case when i % 3 = 1 then 'hitem' end,
       case when i % 7 = 0 then 'chargeback' else 'review_ok' end, i % 1024,
       ts_event, ts_event + (i % 48) * interval '1 hour', 'bench'
from (
  select i, j,
         ${HISTORY_MONTH_START} + ((j / 20) % 10) * interval '1 day' + (i % 17) * interval '1 day'
           + (i % 1000) * interval '1 second' as ts_event
  from (select i, 1 + i % :predictions as j from generate_series(:from_row::int, :to_row::int) as g(i)) s
) t`;

async function loadHistory(db: Knex, outcomes: number): Promise<void> {
  const predictions = Math.max(1, Math.floor(outcomes / 10));
  const chunk = 1_000_000;
  for (let from = 1; from <= predictions; from += chunk) {
    await db.raw(LOAD_HISTORY_PREDICTIONS, { from_row: from, to_row: Math.min(predictions, from + chunk - 1) });
  }
  for (let from = 1; from <= outcomes; from += chunk) {
    await db.raw(LOAD_HISTORY_OUTCOMES, { predictions, from_row: from, to_row: Math.min(outcomes, from + chunk - 1) });
    log(`  ${Math.min(outcomes, from + chunk - 1).toLocaleString('en-US')} history outcomes`);
  }
}

const fixed = (value: number, digits = 2) => Number(value.toFixed(digits));
const maxRss = (runs: ChildEvaluation[]) => fixed(Math.max(...runs.map((run) => run.rss_mb)), 1);

async function evaluateOnce(): Promise<void> {
  const bench = await createBenchDatabase(COHORT_MONTHS);
  try {
    const load = await timed(async () => {
      await loadCohort(bench.db, LARGE, SCORE_LEVELS);
      await settle(bench.db);
    });
    const outcomes = Number((await bench.db.raw('select count(*) as n from outcomes')).rows[0].n);
    log(`loaded ${ROWS} predictions and ${outcomes} outcomes in ${(load.ms / 1000).toFixed(1)} s`);
    const bare = await bareJoinRuns(bench.db, LARGE, 3);
    log(`bare join-and-count: ${JSON.stringify(bare.counts)}`);
    const evaluations = await evaluationRuns(bench.url, LARGE, AS_OF, 3);
    log(`evaluation join block: ${JSON.stringify(evaluations[0]!.join)}`);
    const bareMs = best(bare.ms);
    const evaluateMs = best(evaluations.map((run) => run.ms));
    log(
      `bare ${bare.ms.map((ms) => ms.toFixed(0)).join('/')} ms; ` +
        `evaluate ${evaluations.map((run) => run.ms.toFixed(0)).join('/')} ms (best of three each)`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'evaluate',
        rows: evaluations[0]!.n,
        outcomes,
        bare_ms: Math.round(bareMs),
        evaluate_ms: Math.round(evaluateMs),
        ratio: fixed(evaluateMs / bareMs),
        rss_mb: maxRss(evaluations),
      })}\n`,
    );
  } finally {
    await bench.drop();
  }
}

interface Measured {
  large: ChildEvaluation[];
  small: ChildEvaluation[];
}

async function measureBoth(url: string, label: string): Promise<Measured> {
  const large = await evaluationRuns(url, LARGE, AS_OF, 3);
  const small = await evaluationRuns(url, SMALL, SMALL_AS_OF, 7);
  log(`${label}: large ${large.map((run) => run.ms.toFixed(0)).join('/')} ms, small ${small.map((run) => run.ms.toFixed(1)).join('/')} ms`);
  // The fastest runs' steps (./evaluate-child), so a growth can be traced to a statement.
  const fastest = (runs: ChildEvaluation[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a)).steps_ms;
  log(`${label}: steps of the fastest runs, large ${JSON.stringify(fastest(large))}, small ${JSON.stringify(fastest(small))}`);
  return { large, small };
}

/** Every run of a cohort, before and after the history, must give the same document. */
function sameDocuments(runs: ChildEvaluation[], name: string): void {
  const digests = new Set(runs.map((run) => run.digest));
  if (digests.size !== 1) throw new Error(`the ${name} cohort's evaluation changed with the history: ${[...digests].join(', ')}`);
}

async function evaluateWithHistory(): Promise<void> {
  const bench = await createBenchDatabase([...COHORT_MONTHS, ...HISTORY_MONTHS]);
  try {
    const load = await timed(async () => {
      await loadCohort(bench.db, LARGE, SCORE_LEVELS);
      await loadCohort(bench.db, SMALL, SCORE_LEVELS);
      await settle(bench.db);
    });
    log(`loaded the cohorts (${ROWS} and ${SMALL.rows} predictions) in ${(load.ms / 1000).toFixed(1)} s`);
    const before = await measureBoth(bench.url, 'without history');
    const history = await timed(async () => {
      await loadHistory(bench.db, HISTORY_OUTCOMES);
      await settle(bench.db);
    });
    const outcomes = Number((await bench.db.raw('select count(*) as n from outcomes')).rows[0].n);
    log(`added ${HISTORY_OUTCOMES} history outcomes in ${(history.ms / 1000).toFixed(1)} s (${outcomes} outcomes in all)`);
    const after = await measureBoth(bench.url, 'with history');
    sameDocuments([...before.large, ...after.large], 'large');
    sameDocuments([...before.small, ...after.small], 'small');
    log('with the history both cohorts evaluate to the same documents as without it');
    const ms = (runs: ChildEvaluation[]) => best(runs.map((run) => run.ms));
    process.stdout.write(
      `${JSON.stringify({
        bench: 'evaluate-history',
        history_outcomes: HISTORY_OUTCOMES,
        growth_large: fixed(ms(after.large) / ms(before.large)),
        growth_small: fixed(ms(after.small) / ms(before.small)),
        large: { rows: before.large[0]!.n, ms_without: Math.round(ms(before.large)), ms_with: Math.round(ms(after.large)) },
        small: { rows: before.small[0]!.n, ms_without: fixed(ms(before.small), 1), ms_with: fixed(ms(after.small), 1) },
        same_documents: true,
        rss_mb: maxRss([...before.large, ...after.large]),
      })}\n`,
    );
  } finally {
    await bench.drop();
  }
}

(HISTORY_MODE ? evaluateWithHistory() : evaluateOnce()).catch((error: unknown) => {
  process.stderr.write(`bench:evaluate failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 2;
});
