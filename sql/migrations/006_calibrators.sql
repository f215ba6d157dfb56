-- Calibrators (docs/calibration.md): each fit of a model version's scores to probabilities is
-- one immutable version here, with what it was fitted on (the training cohort), what judged it
-- (the held-out, newest cohort: both as of their own finality) and the held-out numbers before
-- and after. Promotion is a separate append-only log: the active calibrator of a model version
-- is the one promoted last, so a promotion never rewrites a calibrator and every past
-- activation stays readable.
create table calibrators (
  calibrator_id            bigint generated always as identity primary key,
  model_name               text not null,
  model_version            text not null,
  -- Training and held-out predictions came from this environment only (null: all).
  environment              text,
  -- 1, 2, … per model version, in the order the calibrators were fitted.
  version                  integer not null,
  -- The same fit request (the same inputs, or the same workflow) stores one version.
  request_key              text not null unique,
  label_definition_name    text not null,
  label_definition_version integer not null,
  requested_method         text not null check (requested_method in ('platt', 'isotonic', 'auto')),
  method                   text not null check (method in ('platt', 'isotonic')),
  parameters               jsonb not null,
  train_from               timestamptz not null,
  train_to                 timestamptz not null,
  train_as_of              timestamptz not null,
  train_rows               integer not null,
  train_positives          integer not null,
  holdout_from             timestamptz not null,
  holdout_to               timestamptz not null,
  holdout_as_of            timestamptz not null,
  holdout_rows             integer not null,
  holdout_positives        integer not null,
  -- {"brier", "log_loss", "ece"} of the raw scores and of the calibrated ones on the held-out rows.
  before                   jsonb not null,
  after                    jsonb not null,
  -- after.brier < before.brier: the promotion rule.
  improved                 boolean not null,
  created_at               timestamptz not null default now(),
  unique (model_name, model_version, version),
  check (train_from < train_to and holdout_from < holdout_to and train_to <= holdout_from),
  foreign key (label_definition_name, label_definition_version) references label_definitions (name, version)
);

create trigger calibrators_immutable before update or delete on calibrators
  for each row execute function hindsight_reject_mutation();

create table calibrator_promotions (
  promotion_id  bigint generated always as identity primary key,
  calibrator_id bigint not null references calibrators (calibrator_id),
  model_name    text not null,
  model_version text not null,
  -- Who promoted it: `workflow <id>`, `cli`, or the approving operator.
  promoted_by   text not null,
  note          text,
  promoted_at   timestamptz not null default now()
);
create index calibrator_promotions_active_idx on calibrator_promotions (model_name, model_version, promotion_id desc);

create trigger calibrator_promotions_immutable before update or delete on calibrator_promotions
  for each row execute function hindsight_reject_mutation();
