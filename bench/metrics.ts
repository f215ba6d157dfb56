/**
 * `npm run bench:metrics`: one refresh of `GET /metrics` (activities/metrics/exposition.ts:
 * the one read of sql/metrics.ts, the gauges built, the text rendered) over 10,000 cohorts'
 * snapshots (BENCH_COHORTS): 100 models of daily cohorts, each cohort with P7D, P14D and final
 * snapshots (one in ten finals revised), every document a real evaluation's (a 20,000-prediction
 * cohort with two slices, evaluated once), plus an alert and a notification per ten cohorts.
 * In the same run, the baseline: `select count(*)` over the same snapshots. Best of
 * BENCH_METRICS_RUNS (default 5) after a warm-up; the read alone is timed too. Last line:
 * `{"bench":"metrics","cohorts":…,"snapshots":…,"refresh_ms":…,"target_ms":100,
 * "ratio_to_target":…,"read_ms":…,"count_ms":…}` (ratio_to_target ≤ 1 meets the target).
 */
import { databaseGauges, readMetrics } from '../activities/metrics/exposition';
import { evaluateCohort } from '../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../activities/evaluate/label-definitions';
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

const COHORTS = positiveSetting('BENCH_COHORTS', 10_000);
const RUNS = positiveSetting('BENCH_METRICS_RUNS', 5);
const MODELS = 100;
const TARGET_MS = 100;
const SAMPLE: GeneratedCohort = { model: 'bench', prefix: '', rows: 20_000, start: START, end: END };

/** Cohorts of `MODELS` models, daily, the i-th cohort of model m ending i days after 2024-01-01. */
const SEED_COHORTS = `
insert into cohorts (cohort_id, model_name, model_version, environment, start_ts, end_ts, label_definition_name, label_definition_version)
select 'c' || i, 'model-' || (i % :models), 'v1', 'production',
       timestamptz '2024-01-01' + (i / :models) * interval '1 day',
       timestamptz '2024-01-01' + (i / :models + 1) * interval '1 day',
       :definition, 1
from generate_series(0, :cohorts - 1) as i`;

/** Each cohort's snapshots: its document with its own numbers (a third of the cohorts are too new for final). */
const SEED_SNAPSHOTS = `
insert into metric_snapshots (cohort_id, label_definition_name, label_definition_version, checkpoint, revision, as_of, label_fingerprint, document)
select c.cohort_id, c.label_definition_name, 1, k.checkpoint, k.revision, c.end_ts + k.after, 'bench',
       jsonb_set(jsonb_set(:document::jsonb, '{overall,roc_auc}', to_jsonb(0.6 + random() * 0.3)),
                 '{overall,label_availability}', to_jsonb(random()))
from cohorts c
cross join (values ('P7D', 1, interval '7 days'), ('P14D', 1, interval '14 days'),
                   ('final', 1, interval '30 days'), ('final', 2, interval '40 days')) as k(checkpoint, revision, after)
where (k.checkpoint <> 'final' or substr(c.cohort_id, 2)::int < :cohorts * 2 / 3)
  and (k.revision = 1 or substr(c.cohort_id, 2)::int % 10 = 0)`;

const SEED_ALERTS = `
with policy as (
  insert into monitoring_policies (name, version, model_name, policy, content_hash) values ('bench', 1, 'model-0', '{}', 'bench')
  returning name
), raised as (
  insert into alerts (dedup_key, policy_name, policy_version, rule_name, rule_kind, model_name, model_version, cohort_id,
                      severity, state, runbook, fired_at, updated_at, diagnosis)
  select 'a' || c.cohort_id, 'bench', 1, 'recall-drop', 'relative_drop', c.model_name, c.model_version, c.cohort_id,
         (array['info', 'warning', 'critical'])[1 + substr(c.cohort_id, 2)::int % 3],
         case when substr(c.cohort_id, 2)::int % 4 = 0 then 'firing' else 'resolved' end, 'runbook', c.end_ts, c.end_ts,
         jsonb_build_object('verdict', (array['quality', 'labeling', 'both', 'none'])[1 + substr(c.cohort_id, 2)::int % 4])
  from cohorts c, policy
  where substr(c.cohort_id, 2)::int % 10 = 0
  returning alert_id
)
insert into alert_notifications (idempotency_key, alert_id, transition, url, payload, destination, state)
select 'n' || alert_id, alert_id, 'firing', 'http://receiver/hook', '{}', 'webhook/bench',
       (array['delivered', 'delivered', 'delivered', 'pending', 'refused', 'expired'])[1 + alert_id % 6]
from raised`;

async function main(): Promise<void> {
  const bench = await createBenchDatabase(COHORT_MONTHS);
  try {
    // The checkpoints the snapshots are seeded at.
    const definition = { ...definitionFor(SAMPLE), checkpoints: ['P7D', 'P14D'] };
    await putLabelDefinition(bench.db, definition);
    await loadCohort(bench.db, SAMPLE);
    const document = await evaluateCohort(bench.db, cohortSelector(SAMPLE), definition, AS_OF, { labelLag: true });
    log(`one real evaluation document: ${JSON.stringify(document).length.toLocaleString('en-US')} characters`);
    const bindings = { models: MODELS, cohorts: COHORTS, definition: definition.name, document: JSON.stringify(document) };
    await bench.db.raw(SEED_COHORTS, bindings);
    await bench.db.raw(SEED_SNAPSHOTS, bindings);
    await bench.db.raw(SEED_ALERTS);
    await settle(bench.db);
    const snapshots = Number((await bench.db.raw('select count(*) as n from metric_snapshots')).rows[0].n);
    log(`seeded ${COHORTS.toLocaleString('en-US')} cohorts of ${MODELS} models, ${snapshots.toLocaleString('en-US')} snapshots`);

    const refresh = async () => (await databaseGauges(await readMetrics(bench.db)).metrics()).length;
    const count = () => bench.db.raw('select count(*) from metric_snapshots');
    await refresh();
    await count();
    const refreshes: number[] = [];
    const reads: number[] = [];
    const counts: number[] = [];
    let characters = 0;
    for (let run = 0; run < RUNS; run++) {
      const measured = await timed(refresh);
      refreshes.push(measured.ms);
      characters = measured.result;
      counts.push((await timed(count)).ms);
      reads.push((await timed(() => readMetrics(bench.db))).ms);
    }
    const refreshMs = best(refreshes);
    const countMs = best(counts);
    const readMs = best(reads);
    log(
      `refresh (one read, gauges built, ${characters.toLocaleString('en-US')} characters rendered): ${refreshMs.toFixed(1)} ms best of ${RUNS}`,
    );
    log(`of which the database read alone: ${readMs.toFixed(1)} ms`);
    log(`baseline select count(*) over the snapshots: ${countMs.toFixed(1)} ms`);
    log(
      `refresh / target ${TARGET_MS} ms = ${(refreshMs / TARGET_MS).toFixed(2)}; refresh / count(*) = ${(refreshMs / countMs).toFixed(1)}`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'metrics',
        cohorts: COHORTS,
        snapshots,
        refresh_ms: Number(refreshMs.toFixed(1)),
        target_ms: TARGET_MS,
        ratio_to_target: Number((refreshMs / TARGET_MS).toFixed(2)),
        read_ms: Number(readMs.toFixed(1)),
        count_ms: Number(countMs.toFixed(1)),
      })}\n`,
    );
  } finally {
    await bench.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:metrics failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
