-- Core tables of the data model (DESIGN "Data model"). Public interface: snake_case,
-- default schema, queried directly by data scientists.

create table predictions (
  prediction_id        uuid primary key,
  model_name           text not null,
  model_version        text not null,
  feature_view_version text,
  input_schema_hash    text,
  schema_version       integer not null default 1,
  entity_ids           jsonb not null default '{}'::jsonb,
  ts_pred              timestamptz not null,
  score                double precision not null,
  threshold            double precision,
  decision             text,
  action               text,
  policy               text,
  propensity           double precision,
  is_exploration       boolean,
  request_id           text,
  session_id           text,
  position             integer,
  item_id              text,
  environment          text,
  region               text,
  segment              jsonb not null default '{}'::jsonb,
  features             jsonb,
  extra                jsonb,
  content_hash         text not null,
  ingested_at          timestamptz not null default now()
);
create index predictions_cohort_idx on predictions (model_name, model_version, environment, ts_pred);
create index predictions_request_item_idx on predictions (request_id, item_id) where request_id is not null;
create index predictions_entity_idx on predictions using gin (entity_ids jsonb_path_ops);

create table actions (
  prediction_id  uuid not null,
  action         text not null,
  ts_action      timestamptz not null,
  policy         text,
  propensity     double precision,
  schema_version integer not null default 1,
  extra          jsonb,
  content_hash   text not null,
  ingested_at    timestamptz not null default now(),
  primary key (prediction_id, action, ts_action)
);

create table outcomes (
  outcome_id     text primary key,
  prediction_id  uuid,
  entity_ids     jsonb not null default '{}'::jsonb,
  request_id     text,
  item_id        text,
  position       integer,
  outcome_type   text not null,
  value          double precision,
  ts_event       timestamptz not null,
  ts_received    timestamptz not null,
  source         text,
  schema_version integer not null default 1,
  extra          jsonb,
  content_hash   text not null,
  ingested_at    timestamptz not null default now(),
  constraint outcomes_received_after_event check (ts_received >= ts_event)
);
create index outcomes_prediction_idx on outcomes (prediction_id) where prediction_id is not null;
create index outcomes_request_item_idx on outcomes (request_id, item_id) where prediction_id is null and request_id is not null;
create index outcomes_type_received_idx on outcomes (outcome_type, ts_received);

-- Versioned and immutable: a changed rule is a new version with a changelog line.
create table label_definitions (
  name         text not null,
  version      integer not null check (version >= 1),
  model_name   text not null,
  task         text not null check (task in ('binary', 'regression')),
  definition   jsonb not null,
  changelog    text,
  content_hash text not null,
  created_at   timestamptz not null default now(),
  primary key (name, version)
);

create table cohorts (
  cohort_id                text primary key,
  model_name               text not null,
  model_version            text not null,
  environment              text,
  start_ts                 timestamptz not null,
  end_ts                   timestamptz not null,
  label_definition_name    text not null,
  label_definition_version integer not null,
  created_at               timestamptz not null default now(),
  check (start_ts < end_ts),
  foreign key (label_definition_name, label_definition_version) references label_definitions (name, version)
);

-- Immutable: one row per (cohort, label definition version, checkpoint, revision).
create table metric_snapshots (
  snapshot_id              bigint generated always as identity primary key,
  cohort_id                text not null references cohorts (cohort_id),
  label_definition_name    text not null,
  label_definition_version integer not null,
  checkpoint               text not null,
  revision                 integer not null check (revision >= 1),
  as_of                    timestamptz not null,
  label_fingerprint        text not null,
  document                 jsonb not null,
  created_at               timestamptz not null default now(),
  unique (cohort_id, label_definition_name, label_definition_version, checkpoint, revision)
);

create function hindsight_reject_mutation() returns trigger language plpgsql as $$
begin
  raise exception '% rows are immutable; write a new version or revision instead', tg_table_name
    using errcode = 'HS001';
end $$;

create trigger metric_snapshots_immutable before update or delete on metric_snapshots
  for each row execute function hindsight_reject_mutation();
create trigger label_definitions_immutable before update or delete on label_definitions
  for each row execute function hindsight_reject_mutation();
