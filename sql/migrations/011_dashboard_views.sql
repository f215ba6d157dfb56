-- Stable views for dashboards (docs/dashboards.md): Grafana's PostgreSQL data source reads
-- these, never the tables, so a table may change without breaking a dashboard. A cohort
-- without an environment (all environments) shows as '(all)', so a template variable can
-- select it. Plain views: a filter on model, version or time reaches the tables' indexes.

-- A snapshot's headline: the numbers dashboards and /metrics read, a few hundred bytes kept
-- beside the document (tens of kilobytes, compressed out of line) so that reading them never
-- decompresses a document. Computed by the database from the document on insert: nothing
-- writes it, and the rows stay immutable.
create function hindsight_snapshot_headline(document jsonb) returns jsonb
language plpgsql immutable as $$
declare
  overall jsonb := document -> 'overall';
begin
  return jsonb_build_object(
    'n', overall -> 'n', 'n_labeled', overall -> 'n_labeled', 'n_final', overall -> 'n_final',
    'label_availability', overall -> 'label_availability',
    'roc_auc', overall -> 'roc_auc', 'pr_auc', overall -> 'pr_auc', 'brier', overall -> 'brier',
    'log_loss', overall -> 'log_loss', 'ece', overall -> 'ece', 'ks', overall -> 'ks',
    'precision', overall -> 'precision', 'recall', overall -> 'recall', 'f1', overall -> 'f1',
    'base_rate', overall -> 'base_rate', 'mean_score', overall -> 'mean_score',
    'mae', overall -> 'mae', 'rmse', overall -> 'rmse', 'bias', overall -> 'bias', 'r2', overall -> 'r2',
    'label_lag', document -> 'label_lag');
end $$;

alter table metric_snapshots add column headline jsonb generated always as (hindsight_snapshot_headline(document)) stored;

-- One row per snapshot: its cohort, checkpoint, revision, as-of and headline metrics (null
-- when undefined for the data or not of the task), and, on final snapshots evaluated by the
-- lifecycle, the label lag quantiles (seconds from a prediction to its label's receipt).
create view hindsight_v_snapshots as
select s.snapshot_id,
       s.cohort_id,
       c.model_name as model,
       c.model_version as version,
       coalesce(c.environment, '(all)') as environment,
       s.label_definition_name as label_definition,
       s.label_definition_version,
       c.start_ts as cohort_start,
       c.end_ts as cohort_end,
       s.checkpoint,
       s.checkpoint <> 'final' as provisional,
       s.revision,
       not exists (
         select 1 from metric_snapshots later
         where later.cohort_id = s.cohort_id and later.label_definition_name = s.label_definition_name
           and later.label_definition_version = s.label_definition_version and later.checkpoint = s.checkpoint
           and later.revision > s.revision
       ) as latest_revision,
       s.as_of,
       s.created_at,
       (s.headline ->> 'n')::bigint as n,
       (s.headline ->> 'n_labeled')::bigint as n_labeled,
       (s.headline ->> 'n_final')::bigint as n_final,
       (s.headline ->> 'label_availability')::float8 as label_availability,
       (s.headline ->> 'roc_auc')::float8 as roc_auc,
       (s.headline ->> 'pr_auc')::float8 as pr_auc,
       (s.headline ->> 'brier')::float8 as brier,
       (s.headline ->> 'log_loss')::float8 as log_loss,
       (s.headline ->> 'ece')::float8 as ece,
       (s.headline ->> 'ks')::float8 as ks,
       (s.headline ->> 'precision')::float8 as precision,
       (s.headline ->> 'recall')::float8 as recall,
       (s.headline ->> 'f1')::float8 as f1,
       (s.headline ->> 'base_rate')::float8 as base_rate,
       (s.headline ->> 'mean_score')::float8 as mean_score,
       (s.headline ->> 'mae')::float8 as mae,
       (s.headline ->> 'rmse')::float8 as rmse,
       (s.headline ->> 'bias')::float8 as bias,
       (s.headline ->> 'r2')::float8 as r2,
       (s.headline -> 'label_lag' ->> 'p50')::float8 as label_lag_p50_seconds,
       (s.headline -> 'label_lag' ->> 'p90')::float8 as label_lag_p90_seconds,
       (s.headline -> 'label_lag' ->> 'p99')::float8 as label_lag_p99_seconds
from metric_snapshots s
join cohorts c on c.cohort_id = s.cohort_id;

-- One row per cohort, label definition and checkpoint (its latest revision): the label
-- availability then, how long after the cohort's end that was, and the availability expected
-- at that checkpoint: the mean of the four cohorts before it (by end) of the same model
-- version, environment and definition at the same checkpoint, as the label_availability
-- rule's default history (docs/alerts.md). Null when no earlier cohort has one.
create view hindsight_v_label_availability as
select v.cohort_id, v.model, v.version, v.environment, v.label_definition, v.label_definition_version,
       v.cohort_start, v.cohort_end, v.checkpoint, v.provisional, v.revision, v.as_of,
       extract(epoch from v.as_of - v.cohort_end)::float8 as seconds_after_end,
       v.n, v.n_final, v.label_availability,
       avg(v.label_availability) over earlier as expected_label_availability,
       count(v.label_availability) over earlier as expected_from_cohorts
from hindsight_v_snapshots v
where v.latest_revision
window earlier as (
  partition by v.model, v.version, v.environment, v.label_definition, v.checkpoint
  order by v.cohort_end, v.cohort_id
  rows between 4 preceding and 1 preceding
);

-- One row per alert (docs/alerts.md) with its cohort's environment and the diagnosis verdict
-- ('undiagnosed' when it has none). Feed rules have no cohort, version or checkpoint.
create view hindsight_v_alerts as
select a.alert_id, a.model_name as model, a.model_version as version,
       coalesce(c.environment, '(all)') as environment,
       a.policy_name, a.policy_version, a.rule_name, a.rule_kind, a.severity, a.state,
       coalesce(a.diagnosis ->> 'verdict', 'undiagnosed') as verdict,
       a.metric, a.cohort_id, c.start_ts as cohort_start, a.checkpoint, a.revision,
       a.slice_dimension, a.slice_value, a.observed, a.baseline, a.p_value,
       a.fired_at, a.updated_at, a.cleared_at, a.runbook
from alerts a
left join cohorts c on c.cohort_id = a.cohort_id;

-- /metrics walks each series' cohorts newest first (sql/metrics.ts), and finds the ad hoc
-- snapshots without reading the others.
create index cohorts_series on cohorts (model_name, model_version, (coalesce(environment, '')), label_definition_name, end_ts, cohort_id);
create index metric_snapshots_adhoc on metric_snapshots (cohort_id) where checkpoint = 'adhoc';
