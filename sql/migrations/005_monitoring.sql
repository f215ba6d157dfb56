-- Monitoring policies (versioned and immutable like label definitions), the alerts their
-- rules raise, and the outbox of alert notifications that webhooks deliver exactly once.

create table monitoring_policies (
  name         text not null,
  version      integer not null check (version >= 1),
  model_name   text not null,
  policy       jsonb not null,
  changelog    text,
  content_hash text not null,
  created_at   timestamptz not null default now(),
  primary key (name, version)
);
create index monitoring_policies_model on monitoring_policies (model_name, created_at desc);
create trigger monitoring_policies_immutable before update or delete on monitoring_policies
  for each row execute function hindsight_reject_mutation();

-- One row per (rule, cohort, slice): a rule that fires again updates its row instead of
-- adding one. Feed rules have no cohort; their slice is the outcome type they watch.
create table alerts (
  alert_id         bigint generated always as identity primary key,
  dedup_key        text not null unique,
  policy_name      text not null,
  policy_version   integer not null,
  rule_name        text not null,
  rule_kind        text not null,
  model_name       text not null,
  model_version    text,
  cohort_id        text references cohorts (cohort_id),
  checkpoint       text,
  snapshot_id      bigint references metric_snapshots (snapshot_id),
  revision         integer,
  slice_dimension  text not null default '',
  slice_value      text,
  severity         text not null check (severity in ('info', 'warning', 'critical')),
  state            text not null check (state in ('firing', 'resolved', 'retracted')),
  metric           text,
  observed         double precision,
  baseline         double precision,
  ci_low           double precision,
  ci_high          double precision,
  p_value          double precision,
  evidence         jsonb not null default '{}'::jsonb,
  diagnosis        jsonb,
  runbook          text not null,
  fired_at         timestamptz not null,
  updated_at       timestamptz not null,
  cleared_at       timestamptz,
  foreign key (policy_name, policy_version) references monitoring_policies (name, version)
);
create index alerts_model_state on alerts (model_name, state);
create index alerts_cohort on alerts (cohort_id);

-- The outbox: each alert transition that a webhook must hear about, keyed so that a retried
-- delivery carries the same Idempotency-Key and a delivered one is never sent again.
create table alert_notifications (
  idempotency_key text primary key,
  alert_id        bigint not null references alerts (alert_id),
  transition      text not null check (transition in ('firing', 'resolved', 'retracted')),
  url             text not null,
  payload         jsonb not null,
  created_at      timestamptz not null default now(),
  attempts        integer not null default 0,
  delivered_at    timestamptz,
  last_error      text
);
create index alert_notifications_pending on alert_notifications (alert_id) where delivered_at is null;
