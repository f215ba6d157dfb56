-- Core tables of the data model (docs/ingestion.md). Public interface: snake_case,
-- default schema, queried directly by data scientists.

-- predictions and outcomes are range-partitioned by month (predictions on ts_pred,
-- outcomes on ts_event) so retention drops whole partitions instead of deleting rows;
-- hindsight_ensure_month_partition() creates a month on demand before rows land in it.
--
-- A partitioned table's unique key must contain the partition key, so the global
-- uniqueness of prediction_id / outcome_id lives in the small key tables prediction_keys /
-- outcome_keys (id primary key, the partition timestamp, content_hash). Every insert
-- claims its ids there: the bulk ingest path claims them set-based with
-- `on conflict do nothing` (and so learns duplicates vs conflicts from content_hash);
-- any other insert is claimed by a statement trigger, which fails on a repeated id.
-- See docs/ingestion.md.

create table predictions (
  prediction_id        uuid not null,
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
  ingested_at          timestamptz not null default now(),
  primary key (prediction_id, ts_pred)
) partition by range (ts_pred);
create index predictions_cohort_idx on predictions (model_name, model_version, environment, ts_pred);
create index predictions_request_item_idx on predictions (request_id, item_id) where request_id is not null;
create index predictions_entity_idx on predictions using gin (entity_ids jsonb_path_ops);

create table prediction_keys (
  prediction_id uuid primary key,
  ts_pred       timestamptz not null,
  content_hash  text not null
);

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
  outcome_id     text not null,
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
  primary key (outcome_id, ts_event),
  constraint outcomes_received_after_event check (ts_received >= ts_event)
) partition by range (ts_event);
create index outcomes_prediction_idx on outcomes (prediction_id) where prediction_id is not null;
create index outcomes_request_item_idx on outcomes (request_id, item_id) where prediction_id is null and request_id is not null;
create index outcomes_type_received_idx on outcomes (outcome_type, ts_received);

create table outcome_keys (
  outcome_id   text primary key,
  ts_event     timestamptz not null,
  content_hash text not null
);

-- Rows of a month that has no partition yet land in the default partition (so a plain
-- `insert into predictions` always works); ingest creates the month first, so its rows never do.
create table predictions_default partition of predictions default;
create table outcomes_default partition of outcomes default;

-- Creates the month partition of `parent` that holds `at_ts` (UTC months), if missing, and
-- returns its name. Rows of that month already in the default partition move into it.
-- Values arrive bound; only derived identifiers are formatted in.
create function hindsight_ensure_month_partition(parent regclass, at_ts timestamptz) returns text
language plpgsql as $$
declare
  month_start timestamptz := date_trunc('month', at_ts, 'UTC');
  month_end timestamptz := ((month_start at time zone 'UTC') + interval '1 month') at time zone 'UTC';
  parent_name text := (select relname from pg_class where oid = parent);
  partition_name text := parent_name || '_' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
  default_name text := parent_name || '_default';
  key_column text := (select a.attname from pg_partitioned_table p
                      join pg_attribute a on a.attrelid = p.partrelid and a.attnum = p.partattrs[0]
                      where p.partrelid = parent);
begin
  if to_regclass(quote_ident(partition_name)) is not null then
    return partition_name;
  end if;
  -- Two ingests reaching a new month together: one creates it, the other finds it.
  perform pg_advisory_xact_lock(hashtext('hindsight_partition:' || partition_name));
  if exists (select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
             where i.inhparent = parent and c.relname = partition_name) then
    return partition_name;
  end if;
  execute format('create table %I (like %I including defaults including constraints)', partition_name, parent_name);
  execute format('insert into %I select * from %I where %I >= $1 and %I < $2', partition_name, default_name, key_column, key_column)
    using month_start, month_end;
  execute format('delete from %I where %I >= $1 and %I < $2', default_name, key_column, key_column)
    using month_start, month_end;
  execute format('alter table %I attach partition %I for values from (%L) to (%L)',
    parent_name, partition_name, month_start, month_end);
  return partition_name;
end $$;

-- The trigger side of the key tables (see the top of this file). The bulk ingest path sets
-- hindsight.keys_claimed for its own transaction because it has claimed the keys already.
create function hindsight_claim_prediction_keys() returns trigger language plpgsql as $$
begin
  if coalesce(current_setting('hindsight.keys_claimed', true), '') <> 'on' then
    insert into prediction_keys (prediction_id, ts_pred, content_hash)
      select prediction_id, ts_pred, content_hash from new_rows;
  end if;
  return null;
end $$;
create trigger predictions_claim_keys after insert on predictions
  referencing new table as new_rows for each statement execute function hindsight_claim_prediction_keys();

create function hindsight_release_prediction_keys() returns trigger language plpgsql as $$
begin
  delete from prediction_keys k using old_rows o where k.prediction_id = o.prediction_id;
  return null;
end $$;
create trigger predictions_release_keys after delete on predictions
  referencing old table as old_rows for each statement execute function hindsight_release_prediction_keys();

create function hindsight_claim_outcome_keys() returns trigger language plpgsql as $$
begin
  if coalesce(current_setting('hindsight.keys_claimed', true), '') <> 'on' then
    insert into outcome_keys (outcome_id, ts_event, content_hash)
      select outcome_id, ts_event, content_hash from new_rows;
  end if;
  return null;
end $$;
create trigger outcomes_claim_keys after insert on outcomes
  referencing new table as new_rows for each statement execute function hindsight_claim_outcome_keys();

create function hindsight_release_outcome_keys() returns trigger language plpgsql as $$
begin
  delete from outcome_keys k using old_rows o where k.outcome_id = o.outcome_id;
  return null;
end $$;
create trigger outcomes_release_keys after delete on outcomes
  referencing old table as old_rows for each statement execute function hindsight_release_outcome_keys();

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
