/**
 * The sums behind the label-free performance estimate (confidence-based performance
 * estimation, docs/diagnose.md): each cohort prediction's score read as the probability
 * that its label will be positive, so the confusion matrix the labels would give is
 * expected to be Σ p over the flagged predictions (TP), Σ (1 − p) over them (FP), and
 * Σ p over the others (FN). SQL only sums, per slice group (overall is dimension '' with
 * value ''); activities/estimate/cbpe.ts finishes the metrics. No join: the estimate
 * needs no outcome, so it reads the cohort's predictions alone.
 *
 * Values are always bound; the only text spliced in is built from constants and the
 * validated slice dimensions (./slice-values).
 */
import { IN_COHORT, PROBABILITY_SCORE } from './join-outcomes';
import { sliceGroups, sliceValueColumns } from './slice-values';

/** The cohort's predictions with a score in [0, 1]: score, decision and slice values. */
function scored(dims: readonly string[]): string {
  return `
with scored as materialized (
  select p.prediction_id, p.score, p.score >= coalesce(p.threshold, :default_threshold::float8) as flagged
         ${sliceValueColumns(dims, 'p')
           .map((column) => `, ${column}`)
           .join('')}
  from predictions p
  where ${IN_COHORT} and ${PROBABILITY_SCORE}
)`;
}

/**
 * Per group, the same predictions as {@link cbpeSumsStatement} sums, one row each (score and
 * 0/1 decision, in prediction order): for an estimate from calibrated probabilities, which
 * are applied in activities/estimate/cbpe.ts before the same sums are taken.
 */
export function cbpeRowsStatement(dims: readonly string[]): string {
  return `
${scored(dims)}
select g.dim, g.val,
       array_agg(s.score order by s.prediction_id) as scores,
       array_agg(s.flagged::int order by s.prediction_id) as flagged
from scored s ${sliceGroups(dims, 's')}
group by g.dim, g.val`;
}

/**
 * Per group: n, flagged (score ≥ the prediction's threshold, else the definition's
 * decision_threshold, as the evaluation decides), Σ p and Σ p² over all and over the
 * flagged, and the numerator of the expected ROC AUC: over the distinct scores s, highest
 * first, Σ (1 − p) at s × (Σ p above s + ½ Σ p at s). Takes the bindings of
 * `joinBindingsFor` (./join-outcomes).
 */
export function cbpeSumsStatement(dims: readonly string[]): string {
  return `
${scored(dims)},
grouped as (
  select g.dim, g.val, s.score, s.flagged from scored s ${sliceGroups(dims, 's')}
),
totals as (
  select dim, val, count(*) as n,
         count(*) filter (where flagged) as flagged,
         sum(score) as sum_p,
         sum(score * score) as sum_p2,
         coalesce(sum(score) filter (where flagged), 0) as sum_p_flagged,
         coalesce(sum(score * score) filter (where flagged), 0) as sum_p2_flagged
  from grouped
  group by dim, val
),
levels as (
  select dim, val, score, sum(score) as a, sum(1 - score) as b
  from grouped
  group by dim, val, score
),
ranked as (
  select l.dim, l.val, l.a, l.b,
         coalesce(sum(l.a) over (partition by l.dim, l.val order by l.score desc
                                 rows between unbounded preceding and 1 preceding), 0) as above
  from levels l
),
auc as (
  select dim, val, sum(b * (above + a / 2)) as auc_numerator from ranked group by dim, val
)
select t.dim, t.val, t.n::bigint as n, t.flagged::bigint as flagged, t.sum_p, t.sum_p2,
       t.sum_p_flagged, t.sum_p2_flagged, a.auc_numerator
from totals t
join auc a on a.dim = t.dim and a.val is not distinct from t.val`;
}
