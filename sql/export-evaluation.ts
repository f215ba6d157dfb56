/**
 * The joined evaluation dataset of one cohort as of a moment: one row per prediction with
 * its label, label status, deciding outcome and join path (reconstruct from the
 * logs alone). Reads `hs_matches` (see ./join-outcomes) and labels through the same
 * {@link LABEL_COLUMNS} as the evaluation, so an export row and a metric agree by construction.
 */
import { COHORT_PREDICTIONS, DECIDING, LABEL_COLUMNS } from './join-outcomes';

export const EXPORT_ROWS = `
with deciding as (${DECIDING}),
rows as (
  select p.prediction_id, p.model_name, p.model_version, p.environment, p.region, p.segment, p.entity_ids,
         p.request_id, p.item_id, p.ts_pred, p.score,
         coalesce(p.threshold, :default_threshold::float8) as threshold, p.decision,
         ${LABEL_COLUMNS},
         d.outcome_id, d.path as join_path, d.outcome_type, d.ts_event as outcome_ts_event,
         d.ts_received as outcome_ts_received
  from ${COHORT_PREDICTIONS} p left join deciding d on d.prediction_id = p.prediction_id
)
select prediction_id, model_name, model_version, environment, region, segment, entity_ids, request_id, item_id,
       ts_pred, score, threshold, decision,
       case when :regression::boolean then target else y end as label,
       case when is_final then 'final'
            when coalesce(target::text, y::text) is not null then 'provisional'
            else 'unlabeled' end as label_status,
       outcome_id, join_path, outcome_type, outcome_value, outcome_ts_event, outcome_ts_received
from rows
order by ts_pred, prediction_id`;

/** Column order of the CSV export (and key order of the NDJSON one). */
export const EXPORT_COLUMNS = [
  'prediction_id', 'model_name', 'model_version', 'environment', 'region', 'segment', 'entity_ids', 'request_id', 'item_id',
  'ts_pred', 'score', 'threshold', 'decision', 'label', 'label_status',
  'outcome_id', 'join_path', 'outcome_type', 'outcome_value', 'outcome_ts_event', 'outcome_ts_received',
] as const;
