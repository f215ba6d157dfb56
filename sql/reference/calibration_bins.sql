-- The ten uniform calibration bins of a cohort (docs/metrics.md, `calibration.uniform`;
-- the bins of scikit-learn's calibration_curve(y, p, n_bins=10, strategy="uniform")).
--
-- The edges are k * 0.1 in float8 for k = 0..10 (numpy.linspace(0, 1, 11)); note that
-- 3 * 0.1 is 0.30000000000000004, so a score of 0.3 lies below that edge. A score goes to
-- bin b = the number of inner edges (k = 1..9) strictly below it: bins include their upper
-- edge, and the first includes 0. Empty bins are left out.
--
-- Reads the view labeled_predictions, so run prediction_id_join.sql first in the same
-- session, with its parameters:
--   psql "$DATABASE_URL" -v … -f sql/reference/prediction_id_join.sql -f sql/reference/calibration_bins.sql

with binned as (
  select score,
         label,
         (select count(*) from generate_series(1, 9) as k where k * 0.1::float8 < score) as bin
  from labeled_predictions
  where label is not null
)
select bin,
       bin * 0.1::float8 as lower,
       (bin + 1) * 0.1::float8 as upper,
       count(*) as count,
       avg(score) as mean_predicted,
       avg(label::float8) as fraction_positive
from binned
group by bin
order by bin;
