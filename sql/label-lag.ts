/**
 * A cohort's label lag: seconds from each labeled prediction to the receipt of its first
 * joined outcome (regression: one that carries a value), as the quantiles that `/metrics`
 * and the dashboards show (docs/dashboards.md). Reads the evaluation's `hs_matches`
 * (./join-outcomes), so it counts exactly the outcomes the evaluation joined.
 */
export const LABEL_LAG = `
select count(*)::int as n,
       percentile_cont(array[0.5, 0.9, 0.99]) within group (order by lags.lag) as quantiles
from (
  select extract(epoch from min(m.ts_received) - min(m.ts_pred))::float8 as lag
  from hs_matches m
  where m.status = 'joined' and (not :regression::boolean or m.value is not null)
  group by m.prediction_id
) lags`;
