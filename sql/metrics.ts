/**
 * The one statement behind `GET /metrics` (activities/metrics/, docs/dashboards.md): the
 * latest snapshots of each series, the firing alerts and the outbox by state, as three JSON
 * arrays in one row, so a refresh is one round trip whatever the history holds.
 *
 * A series is (model, version, environment, label definition name, checkpoint); its value is
 * the latest revision of the most recent cohort (by end) with a snapshot at that checkpoint,
 * and its expected label availability the mean over the four cohorts before that one at the
 * same checkpoint (as `hindsight_v_label_availability` has it). The label lag is that of the
 * most recent of those five cohorts, per model and definition, whose final snapshot carries one.
 */
export const HEADLINE_METRICS = {
  binary: ['roc_auc', 'pr_auc', 'brier', 'log_loss', 'ece', 'ks', 'precision', 'recall', 'f1', 'base_rate', 'mean_score'],
  regression: ['mae', 'rmse', 'bias', 'r2', 'mean_score'],
} as const;

/**
 * Reads only the snapshots' `headline` column (migration 011: a few hundred bytes each, never
 * the documents), and only of the five most recent cohorts of each series: the series are the
 * cohorts' (model, version, environment, definition) with each checkpoint their definition
 * plans, `final`, and `adhoc` where one exists; for each, the cohorts are walked newest first
 * down the `cohorts_series` index until five have a snapshot at that checkpoint.
 */
export const METRICS_READ = `
with series_keys as (
  select k.model_name, k.model_version, k.environment, k.label_definition_name, p.checkpoint
  from (select distinct model_name, model_version, coalesce(environment, '') as environment, label_definition_name
        from cohorts) k
  join (select name as label_definition_name, jsonb_array_elements_text(definition -> 'checkpoints') as checkpoint
        from label_definitions
        union select name, 'final' from label_definitions) p using (label_definition_name)
  union
  select c.model_name, c.model_version, coalesce(c.environment, ''), c.label_definition_name, s.checkpoint
  from metric_snapshots s join cohorts c on c.cohort_id = s.cohort_id
  where s.checkpoint = 'adhoc'
),
recent as (
  select k.*, r.start_ts, r.end_ts, r.as_of, r.headline,
         row_number() over (partition by k.model_name, k.model_version, k.environment, k.label_definition_name, k.checkpoint
                            order by r.end_ts desc, r.cohort_id desc) as age
  from series_keys k
  cross join lateral (
    select c.cohort_id, c.start_ts, c.end_ts, snapshot.as_of, snapshot.headline
    from cohorts c
    cross join lateral (
      -- the cohort's latest revision at the checkpoint
      select s.as_of, s.headline from metric_snapshots s
      where s.cohort_id = c.cohort_id and s.label_definition_name = c.label_definition_name and s.checkpoint = k.checkpoint
      order by s.label_definition_version desc, s.revision desc
      limit 1
    ) snapshot
    where c.model_name = k.model_name and c.model_version = k.model_version
      and coalesce(c.environment, '') = k.environment and c.label_definition_name = k.label_definition_name
    order by c.end_ts desc, c.cohort_id desc
    limit 5
  ) r
),
expected as (
  select model_name, model_version, environment, label_definition_name, checkpoint,
         avg((headline ->> 'label_availability')::float8) as availability
  from recent where age > 1
  group by 1, 2, 3, 4, 5
),
series as (
  select r.model_name, r.model_version, r.environment, r.label_definition_name, r.checkpoint,
         extract(epoch from r.as_of)::float8 as as_of_seconds,
         extract(epoch from r.end_ts - r.start_ts)::float8 as cohort_seconds,
         (r.headline ->> 'label_availability')::float8 as label_availability,
         e.availability as expected_availability,
         r.headline - 'label_lag' as headline
  from recent r
  left join expected e using (model_name, model_version, environment, label_definition_name, checkpoint)
  where r.age = 1
),
lag as (
  select distinct on (r.model_name, r.label_definition_name)
         r.model_name, r.label_definition_name, r.headline -> 'label_lag' as label_lag
  from recent r
  where r.checkpoint = 'final' and jsonb_typeof(r.headline -> 'label_lag') = 'object'
  order by r.model_name, r.label_definition_name, r.end_ts desc
)
select
  (select coalesce(jsonb_agg(to_jsonb(series)), '[]') from series) as series,
  (select coalesce(jsonb_agg(to_jsonb(lag)), '[]') from lag) as lag,
  (select coalesce(jsonb_agg(to_jsonb(alert_groups)), '[]') from (
     select model_name, rule_kind, severity, coalesce(diagnosis ->> 'verdict', 'undiagnosed') as verdict, count(*)::int as firing
     from alerts where state = 'firing'
     group by 1, 2, 3, 4) alert_groups) as alerts,
  (select coalesce(jsonb_agg(to_jsonb(outbox)), '[]') from (
     select split_part(destination, '/', 1) as destination_kind, state, count(*)::int as notifications
     from alert_notifications
     group by 1, 2) outbox) as deliveries`;

/** A row of `series` in {@link METRICS_READ}. */
export interface SeriesRow {
  model_name: string;
  model_version: string;
  /** '' for a cohort of all environments. */
  environment: string;
  label_definition_name: string;
  checkpoint: string;
  as_of_seconds: number;
  cohort_seconds: number;
  label_availability: number | null;
  expected_availability: number | null;
  /** The headline metrics of the snapshot (absent or null when not of its task or undefined). */
  headline: Record<string, number | null | undefined>;
}

export interface LagRow {
  model_name: string;
  label_definition_name: string;
  label_lag: { n: number; p50: number | null; p90: number | null; p99: number | null };
}

export interface FiringRow {
  model_name: string;
  rule_kind: string;
  severity: string;
  verdict: string;
  firing: number;
}

export interface OutboxRow {
  destination_kind: string;
  state: string;
  notifications: number;
}

export interface MetricsReadRow {
  series: SeriesRow[];
  lag: LagRow[];
  alerts: FiringRow[];
  deliveries: OutboxRow[];
}
