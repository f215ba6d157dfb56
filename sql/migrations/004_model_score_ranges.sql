-- The score range a model's predictions must keep (docs/metrics.md "Scores outside [0, 1]").
-- A binary label definition reads scores as probabilities: Brier and log loss are only
-- defined for scores in [0, 1]. The first binary definition put for a model records [0, 1]
-- here; from then on ingest rejects a prediction of that model scored outside it, naming
-- the field `score`. Immutable, like the definition that set it.
create table model_score_ranges (
  model_name               text primary key,
  min_score                double precision not null,
  max_score                double precision not null,
  label_definition_name    text not null,
  label_definition_version integer not null,
  created_at               timestamptz not null default now(),
  check (min_score <= max_score),
  foreign key (label_definition_name, label_definition_version) references label_definitions (name, version)
);

create trigger model_score_ranges_immutable before update or delete on model_score_ranges
  for each row execute function hindsight_reject_mutation();

-- Models that already have a binary definition: the first one put sets the range.
insert into model_score_ranges (model_name, min_score, max_score, label_definition_name, label_definition_version, created_at)
select distinct on (model_name) model_name, 0, 1, name, version, created_at
from label_definitions
where task = 'binary'
order by model_name, created_at, name, version;

-- Predictions stored before their model's range (or by a plain insert) may lie outside it;
-- the evaluation excludes and counts them. Rare, so this partial index is small and the
-- count costs an index probe per cohort. NaN sorts above every number, so it is included.
create index predictions_invalid_score_idx on predictions (model_name, model_version, ts_pred)
  where not (score >= 0 and score <= 1);
