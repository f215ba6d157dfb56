/**
 * Earlier cohorts of a model, label definition and environment (any model version), newest
 * first, each with its latest snapshot at a checkpoint: what a monitoring rule compares a
 * cohort with. Bindings: `:checkpoint` ('' when no snapshot is needed), `:model`, `:ldn` and
 * `:ldv` (the label definition), `:environment`, `:start` (the judged cohort's start: only
 * cohorts starting before it), `:finalized` (keep only cohorts with a final snapshot), `:count`.
 */
export const PRIOR_COHORTS = `select c.cohort_id, c.model_name, c.model_version, c.environment, c.start_ts, c.end_ts,
            c.label_definition_name, c.label_definition_version,
            s.snapshot_id, s.as_of, s.document->'overall' as overall, s.document->'slices' as slices
     from cohorts c
     left join lateral (
       select snapshot_id, as_of, document from metric_snapshots s
       where s.cohort_id = c.cohort_id and s.checkpoint = :checkpoint
         and s.label_definition_name = c.label_definition_name and s.label_definition_version = c.label_definition_version
       order by s.revision desc limit 1
     ) s on true
     where c.model_name = :model and c.label_definition_name = :ldn and c.label_definition_version = :ldv
       and c.environment is not distinct from :environment and c.start_ts < :start
       and (:checkpoint = '' or s.snapshot_id is not null)
       and (not :finalized or exists (select 1 from metric_snapshots f where f.cohort_id = c.cohort_id and f.checkpoint = 'final'))
     order by c.start_ts desc
     limit :count`;

export type PriorCohortBindings = {
  checkpoint: string;
  model: string;
  ldn: string;
  ldv: number;
  environment: string | null;
  start: string;
  finalized: boolean;
  count: number;
};
