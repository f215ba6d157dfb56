/**
 * Propensity-weighted sums over the labeled table (`hs_labeled`, ./join-outcomes): each
 * labeled prediction with a logged propensity weighs 1 / propensity, so a label seen only
 * because the policy happened to allow it (an approval inside a randomized band) stands for
 * the predictions like it that the policy did not allow (docs/selection-bias.md).
 *
 * One pass for the base-rate sums, and one grouped by score for the weighted ROC AUC:
 * Σ over positive i, negative j of w_i w_j ([s_i > s_j] + ½ [s_i = s_j]) / (W₊ W₋), each
 * score's positive weight against the negative weight below it plus half its own.
 */
export const PROPENSITY_WEIGHTED = `
with weighted as (
  select l.score, l.y, 1 / l.propensity as w
  from hs_labeled l
  where l.y is not null and l.propensity is not null
),
by_score as (
  select score, coalesce(sum(w) filter (where y = 1), 0) as wp, coalesce(sum(w) filter (where y = 0), 0) as wn
  from weighted
  group by score
),
ranked as (
  select wp, wn, coalesce(sum(wn) over (order by score rows between unbounded preceding and 1 preceding), 0) as wn_below
  from by_score
)
select (select count(*) from hs_labeled l where l.y is not null) as n_labeled,
       (select count(*) from weighted) as n_weighted,
       (select coalesce(sum(w), 0) from weighted) as w_sum,
       (select coalesce(sum(w * y), 0) from weighted) as wy_sum,
       (select coalesce(sum(w * w), 0) from weighted) as w2_sum,
       (select coalesce(sum(w * w * y), 0) from weighted) as w2y_sum,
       (select coalesce(sum(wp * (wn_below + wn / 2)), 0) from ranked) as auc_numerator,
       (select coalesce(sum(wp), 0) from ranked) as w_positive,
       (select coalesce(sum(wn), 0) from ranked) as w_negative`;
