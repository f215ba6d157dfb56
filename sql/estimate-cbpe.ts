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
import { FLAGGED, IN_COHORT, PROBABILITY_SCORE } from './join-outcomes';
import { sliceGroups, sliceValueColumns } from './slice-values';

/**
 * The cohort's predictions with a score in [0, 1]: score, decision ({@link FLAGGED}: the
 * logged one under `decision_source: logged`, whose predictions without a decision are left
 * out as the evaluation leaves them out) and slice values.
 */
function scored(dims: readonly string[]): string {
  return `
with scored as materialized (
  select p.prediction_id, p.score, ${FLAGGED} as flagged
         ${sliceValueColumns(dims, 'p')
           .map((column) => `, ${column}`)
           .join('')}
  from predictions p
  where ${IN_COHORT} and ${PROBABILITY_SCORE} and (not :logged_decisions::boolean or p.decision is not null)
)`;
}

/**
 * Each scored prediction's probability: the score itself (`:calibration_method` none), or the
 * score through the calibrator fitted on the reference, as client/calibrator.ts applies it
 * (`applyCalibrator`, the same float8 operations in the same order): Platt's logistic
 * `:platt_a`·s + `:platt_b`, or isotonic's `interp1d` over (`:iso_x`, `:iso_y`) with the score
 * clipped to [x₁, xₙ] and the interval [x_{u−1}, x_u] found by `width_bucket` (at a score equal
 * to a threshold either neighbouring interval gives the same value). Computed here rather than
 * in memory, so an estimate's cost in the worker does not grow with the cohort.
 */
const PROBABLE = `
params as (
  select :calibration_method::text as method, :platt_a::float8 as a, :platt_b::float8 as b,
         :iso_x::float8[] as x, :iso_y::float8[] as y, cardinality(:iso_x::float8[]) as n
),
clipped as (
  select s.*, least(greatest(s.score, pr.x[1]), pr.x[pr.n]) as cs from scored s cross join params pr
),
located as (
  select c.*, least(greatest(width_bucket(c.cs, pr.x), 1), pr.n - 1) + 1 as u from clipped c cross join params pr
),
probable as (
  select l.*,
         case pr.method
           when 'platt' then case when pr.a * l.score + pr.b >= 0
                                  then exp(-(pr.a * l.score + pr.b)) / (1 + exp(-(pr.a * l.score + pr.b)))
                                  else 1 / (1 + exp(pr.a * l.score + pr.b)) end
           when 'isotonic' then case when pr.n = 1 then pr.y[1]
                                     else (pr.y[l.u] - pr.y[l.u - 1]) / (pr.x[l.u] - pr.x[l.u - 1]) * (l.cs - pr.x[l.u - 1])
                                          + pr.y[l.u - 1] end
           else l.score
         end as p
  from located l cross join params pr
)`;

/**
 * Per group: n, flagged (score ≥ the prediction's threshold, else the definition's
 * decision_threshold, as the evaluation decides: calibration never changes the decision), Σ p
 * and Σ p² over all and over the flagged, and the numerator of the expected ROC AUC: over the
 * distinct probabilities, highest first, Σ (1 − p) at that level × (Σ p above it + ½ Σ p at
 * it). Takes the bindings of `joinBindingsFor` (./join-outcomes) and those of
 * {@link calibrationBindings}.
 */
export function cbpeSumsStatement(dims: readonly string[]): string {
  return `
${scored(dims)},${PROBABLE},
grouped as (
  select g.dim, g.val, s.p, s.flagged from probable s ${sliceGroups(dims, 's')}
),
totals as (
  select dim, val, count(*) as n,
         count(*) filter (where flagged) as flagged,
         sum(p) as sum_p,
         sum(p * p) as sum_p2,
         coalesce(sum(p) filter (where flagged), 0) as sum_p_flagged,
         coalesce(sum(p * p) filter (where flagged), 0) as sum_p2_flagged
  from grouped
  group by dim, val
),
levels as (
  select dim, val, p, sum(p) as a, sum(1 - p) as b
  from grouped
  group by dim, val, p
),
ranked as (
  select l.dim, l.val, l.a, l.b,
         coalesce(sum(l.a) over (partition by l.dim, l.val order by l.p desc
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

/** The calibration bindings of {@link cbpeSumsStatement}; arrays of one zero stand in for an absent isotonic step function. */
export function calibrationBindings(
  calibrator:
    | { method: 'platt'; parameters: { a: number; b: number } }
    | { method: 'isotonic'; parameters: { x_thresholds: number[]; y_thresholds: number[] } }
    | null,
): Record<string, unknown> {
  const none = { calibration_method: 'none', platt_a: 0, platt_b: 0, iso_x: [0], iso_y: [0] };
  if (calibrator === null) return none;
  if (calibrator.method === 'platt')
    return { ...none, calibration_method: 'platt', platt_a: calibrator.parameters.a, platt_b: calibrator.parameters.b };
  return { ...none, calibration_method: 'isotonic', iso_x: calibrator.parameters.x_thresholds, iso_y: calibrator.parameters.y_thresholds };
}
