-- Rankings (docs/metrics.md "Ranking", docs/ingestion.md).
-- Label definitions of task 'ranking': each shown item of a request is labeled with its
-- relevance, and evaluate adds per-request ranking metrics.
alter table label_definitions drop constraint label_definitions_task_check;
alter table label_definitions add constraint label_definitions_task_check check (task in ('binary', 'regression', 'ranking'));

-- A prediction that logs its action (or decision) and position may leave out its score (a
-- ranker without a calibrated score); the evaluation leaves it out of the score metrics and
-- counts it (excluded.no_score), an index probe of this partial index per cohort.
alter table predictions alter column score drop not null;
create index predictions_no_score_idx on predictions (model_name, model_version, ts_pred) where score is null;
