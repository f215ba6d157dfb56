-- The Brier score of a cohort: the mean of (score - label)^2 over its labeled predictions
-- (docs/metrics.md; scikit-learn's brier_score_loss).
--
-- Reads the view labeled_predictions, so run prediction_id_join.sql first in the same
-- session, with its parameters:
--   psql "$DATABASE_URL" -v … -f sql/reference/prediction_id_join.sql -f sql/reference/brier.sql

select count(*) as n_labeled,
       avg((score - label) ^ 2) as brier
from labeled_predictions
where label is not null;
