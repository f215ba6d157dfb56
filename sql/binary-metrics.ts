/**
 * The binary metric SQL of one cohort evaluation (docs/metrics.md), over
 * `hs_labeled` (./join-outcomes). SQL only counts and sums; the metrics are finished in
 * TypeScript (stats/), where they are tested against scikit-learn.
 *
 * Two statements, so the second can be written for the groups the first finds:
 * 1. {@link binaryTotalsStatement}: every total that needs no ranks, per slice group, in
 *    one hash-aggregate pass (the overall group is dimension '' with value '').
 * 2. {@link binaryRanksStatement}: everything that needs the scores in order. Each group's
 *    labeled scores become one sorted float8 array (and one of its positives' scores), all
 *    from one sort of the labeled rows by score: each group's array is the sorted run of
 *    its members (see {@link binaryRanksStatement}), the only work done per row. Every rank
 *    question is then a binary search (`width_bucket(x, arr)` counts the scores ≤ x) or a
 *    subscript: bin boundaries, quantile edges, deciles, and for each positive its place
 *    among all scores, which gives ROC AUC, average precision and KS without a window over
 *    a million rows.
 *
 * Values are always bound (knex named bindings); the only text spliced in is built here
 * from constants, the validated dimension names and binding names.
 */
import { uniformEdge } from '../stats/calibration';
import { FINGERPRINT, THRESHOLD_GRID } from './evaluate-cohort';
import { sliceColumn, sliceGroups } from './slice-values';

/** A slice group the totals found with labeled rows: dimension index (0 = overall) and value. */
export interface RankGroup {
  dimension: number;
  value: string | null;
}

export interface Statement {
  sql: string;
  bindings: Record<string, unknown>;
}

/**
 * A dimension with at most this many labeled groups gets its sorted arrays in the one pass
 * over the rows (an aggregate per group, each with a FILTER); one with more is grouped by
 * its value instead, which costs a sort of the rows by value but nothing per group.
 */
const FILTERED_GROUPS_MAX = 16;

const CLIPPED = 'least(greatest(l.score, 1e-15::float8), 1 - 1e-15::float8)';

/**
 * Totals per slice-value combination in one pass, then per group: n (also unlabeled),
 * labeled, final and positive counts, the confusion counts at each prediction's threshold,
 * outcome value caught and missed, and the sums behind mean score, Brier and log loss.
 */
export function binaryTotalsStatement(dims: string[]): Statement {
  const columns = dims.map((_, i) => `l.${sliceColumn(i)}`);
  const sql = `
with combos as (
  select ${[...columns, ''].join(', ')}
         count(*) as n,
         count(l.y) as n_labeled,
         count(*) filter (where l.is_final) as n_final,
         count(*) filter (where l.y = 1) as n_positive,
         count(*) filter (where l.y = 1 and l.flagged) as tp,
         count(*) filter (where l.y = 0 and l.flagged) as fp,
         sum(l.outcome_value) filter (where l.y = 1 and l.flagged) as value_caught,
         sum(l.outcome_value) filter (where l.y = 1 and not l.flagged) as value_missed,
         sum(l.score) filter (where l.y is not null) as score_sum,
         sum((l.score - l.y) * (l.score - l.y)) as brier_sum,
         -- one logarithm per row: the other term of y·ln(p) + (1 − y)·ln(1 − p) is 0
         -sum(ln(case l.y when 1 then ${CLIPPED} when 0 then 1 - ${CLIPPED} end)) as log_loss_sum,
         ${FINGERPRINT('coalesce(l.y, 2) * 2 + l.is_final::int')} as fingerprint
  from hs_labeled l
  ${columns.length === 0 ? '' : `group by ${columns.join(', ')}`}
)
select g.dim, g.val,
       sum(c.n)::bigint as n, sum(c.n_labeled)::bigint as n_labeled, sum(c.n_final)::bigint as n_final,
       sum(c.n_positive)::bigint as n_positive, sum(c.tp)::bigint as tp, sum(c.fp)::bigint as fp,
       coalesce(sum(c.value_caught), 0) as value_caught, coalesce(sum(c.value_missed), 0) as value_missed,
       sum(c.score_sum) as score_sum, sum(c.brier_sum) as brier_sum, sum(c.log_loss_sum) as log_loss_sum,
       (bit_xor(c.fingerprint) filter (where g.dim = ''))::text as fingerprint
from combos c
${sliceGroups(dims, 'c')}
group by g.dim, g.val`;
  return { sql, bindings: { dims } };
}

/**
 * SQL for a one-row relation with column e, 2^e ≤ |x| < 2^(e + 1) for x ≠ 0: log2 rounded
 * down, then corrected where rounding put it one off; clamped to float8's range.
 */
const BINARY_EXPONENT = (x: string) => `(
    select case when power(2::float8, e0) > abs(${x}) then e0 - 1
                when e0 < 1023 and power(2::float8, e0 + 1) <= abs(${x}) then e0 + 1
                else e0 end as e
    from (select greatest(least(floor(ln(greatest(abs(${x}), power(2::float8, -1074))) / ln(2::float8)), 1023), -1074)::int
                 as e0) as guess)`;

/**
 * SQL for the largest float8 below the finite float8 `x`, so that `width_bucket(below, arr)`
 * counts the scores under x where `width_bucket(x, arr)` counts those at or under it.
 * For x ≥ 2^-969 (every score in practice) x − x·2^-53 rounds to exactly that: x·2^-53 lies
 * between half a spacing and one spacing of the floats below x, or is exactly the half
 * spacing when x is a power of two. Otherwise x less the spacing of float8 values just below
 * it, from e with 2^e ≤ |x| < 2^(e + 1): 2^(e − 52), half that when x is a positive power of
 * two, never under 2^-1074 (subnormals); every step exact.
 */
export const FLOAT_BELOW = (x: string) => `(
  case when ${x} >= power(2::float8, -969) then ${x} - ${x} * power(2::float8, -53)
       when ${x} = 0 then -power(2::float8, -1074)
       else (select case when ${x} > 0 and ${x} = power(2::float8, e) then ${x} - power(2::float8, greatest(e - 53, -1074))
                         else ${x} - power(2::float8, greatest(e - 52, -1074)) end
             from ${BINARY_EXPONENT(x)} as exponent) end)`;

/** numpy.percentile(p, linspace(0, 1, 11) * 100), method "linear", as sklearn's quantile bins use it. */
const QUANTILE_EDGES = `(
    select array_agg(case when e.gamma >= 0.5 then e.b - (e.b - e.a) * (1 - e.gamma) else e.a + (e.b - e.a) * e.gamma end order by e.k)
    from (select q.k, s.arr[q.lo + 1] as a, s.arr[least(q.lo + 1, s.n - 1) + 1] as b, q.v - q.lo as gamma
          from (select k, v, floor(v)::bigint as lo
                from (select k, (s.n - 1)::float8 * (case when k = 10 then 1::float8 else (0.1::float8 * k) * 100 / 100 end) as v
                      from generate_series(0, 10) as k) as kv) as q) as e)`;

/**
 * Sorted arrays per group, then the bins and rank sums. `groups` are the totals' groups
 * with labeled rows; dimension i (1-based) is `dims[i - 1]`, 0 the overall group.
 *
 * Output rows, all keyed by (dimension index, value):
 * - kind 'segment': a run of consecutive ranks inside one bin of every binning (uniform,
 *   quantile, decile, threshold bucket), with its count, positives, score sum, min and max;
 * - kind 'ranks': twice the ROC AUC numerator, the average-precision sum, KS and the 11
 *   quantile edges.
 */
export function binaryRanksStatement(dims: string[], groups: RankGroup[]): Statement {
  const bindings: Record<string, unknown> = {
    // the inner uniform edges exactly as the calibration bins label them (numpy.linspace)
    uniform_edges: Array.from({ length: 9 }, (_, k) => uniformEdge(k + 1)),
    threshold_grid: [...THRESHOLD_GRID],
  };
  const byDimension = dims.map((_, i) => groups.filter((group) => group.dimension === i + 1));
  const filtered = [0, ...dims.map((_, i) => i + 1).filter((d) => byDimension[d - 1]!.length <= FILTERED_GROUPS_MAX)];
  const grouped = dims.map((_, i) => i + 1).filter((d) => !filtered.includes(d));

  // Per filtered group its sorted scores, in one pass over the rows sorted by score and
  // again in one over the positives alone. The aggregates take their input in the order of
  // the sorted subquery (a plain aggregate over a Sort: hs_labeled is a temp table, so no
  // parallel plan reorders it), so each group's array comes out sorted without a sort of
  // its own: one sort of n rows instead of one per group, n × (1 + dimensions) in all,
  // which at 10M predictions was half of this statement.
  // Ties order arbitrarily, which no array of equal float8 values can show.
  const aggregates: string[] = [];
  const unpivot: string[] = [];
  for (const d of filtered) {
    const members = d === 0 ? [{ dimension: 0, value: '' }] : byDimension[d - 1]!;
    members.forEach((group, g) => {
      const name = `g${d}_${g}`;
      let filter = '';
      if (d > 0) {
        if (group.value === null) filter = ` filter (where ${sliceColumn(d - 1)} is null)`;
        else {
          bindings[`${name}_value`] = group.value;
          filter = ` filter (where ${sliceColumn(d - 1)} = :${name}_value::text)`;
        }
      }
      aggregates.push(`array_agg(score)${filter} as ${name}`);
      const value = d === 0 ? `''::text` : group.value === null ? 'null::text' : `:${name}_value::text`;
      unpivot.push(`(${d}, ${value}, a.${name}, p.${name})`);
    });
  }
  const groupedArrays = grouped.map(
    (d) => `
  union all
  select ${d}, ${sliceColumn(d - 1)}, array_agg(score order by score), array_agg(score order by score) filter (where y = 1)
  from src group by ${sliceColumn(d - 1)}`,
  );
  const sameGroup = (a: string, b: string) =>
    `${a}.d = ${b}.d and coalesce(${a}.val, '') = coalesce(${b}.val, '') and (${a}.val is null) = (${b}.val is null)`;

  const sql = `
with src as not materialized (
  select ${['l.score', 'l.y', ...dims.map((_, i) => `l.${sliceColumn(i)}`)].join(', ')}
  from hs_labeled l
  where l.y is not null
),
arrays as (
  select u.d, u.val, u.arr, coalesce(u.parr, '{}') as parr
  from (select ${aggregates.join(',\n               ')}
        from (select * from src order by score) as sorted) as a
  cross join (select ${aggregates.join(',\n                     ')}
              from (select * from src where y = 1 order by score) as sorted) as p
  cross join lateral (values ${unpivot.join(',\n                             ')}) as u(d, val, arr, parr)
  where u.arr is not null${groupedArrays.join('')}
),
stats as materialized (
  select s.*, ${QUANTILE_EDGES} as qedges
  from (select a.d, a.val, a.arr, a.parr, cardinality(a.arr) as n, cardinality(a.parr) as npos from arrays a) as s
),
-- Bin boundaries as values: a score lies in bin i of a binning when exactly i of its
-- boundaries lie below it, so each boundary cuts the sorted array at width_bucket(b, arr).
-- Uniform and quantile bins count edges < score (numpy.searchsorted, side left); deciles
-- count the ranks below a score (10 * below / n); threshold buckets count thresholds ≤ score.
bounds as (
  select s.d, s.val, b.kind, width_bucket(b.x, s.arr) as pos, width_bucket(b.x, s.parr) as ppos
  from stats s
  cross join lateral (
    select 'u' as kind, e as x from unnest(:uniform_edges::float8[]) as e
    union all select 't', ${FLOAT_BELOW('t')} from unnest(:threshold_grid::float8[]) as t
    union all select 'd', s.arr[((k * s.n::bigint + 9) / 10)::int] from generate_series(1, 9) as k
    union all select 'q', s.qedges[k + 1] from generate_series(1, 9) as k
  ) as b
),
cuts as (
  select d, val, pos, max(ppos) as ppos from bounds group by d, val, pos
  union select d, val, 0, 0 from stats
  union select d, val, n, npos from stats
),
segments as (
  select c.d, c.val, c.pos as lo, lead(c.pos) over w as hi, c.ppos as plo, lead(c.ppos) over w as phi
  from cuts c
  window w as (partition by c.d, c.val order by c.pos)
),
-- A segment lies in bin i of a binning when i of that binning's boundaries cut at or before it.
binned as (
  select g.d, g.val, g.lo, g.hi, g.plo, g.phi,
         (count(*) filter (where b.kind = 'u'))::int as ubin,
         (count(*) filter (where b.kind = 'q'))::int as qbin,
         (count(*) filter (where b.kind = 'd'))::int + 1 as decile,
         (count(*) filter (where b.kind = 't'))::int as tbucket
  from segments g
  left join bounds b on ${sameGroup('b', 'g')} and b.pos <= g.lo
  where g.hi > g.lo
  group by g.d, g.val, g.lo, g.hi, g.plo, g.phi
),
-- Each positive's place among its group's scores: le of them ≤ it, below of them < it (pl
-- and pbelow of the positives), by binary search on the group's arrays. A group's positives
-- are its positives' array, so they come from it in score order (consecutive searches then
-- walk the same part of the array) rather than from another pass over the rows. Materialized,
-- so what later steps sort or hash holds these numbers, never a group's arrays.
placed as materialized (
  select q.d, q.val, q.n, q.npos, q.le, q.pl,
         -- the score just before it in the array is below it, unless tied (then search)
         case when q.le = 1 or q.arr[q.le - 1] < q.score then q.le - 1 else width_bucket(${FLOAT_BELOW('q.score')}, q.arr) end as below,
         case when q.pl = 1 or q.parr[q.pl - 1] < q.score then q.pl - 1 else width_bucket(${FLOAT_BELOW('q.score')}, q.parr) end as pbelow
  from (select p.score, s.d, s.val, s.n, s.npos, s.arr, s.parr,
               width_bucket(p.score, s.arr) as le, width_bucket(p.score, s.parr) as pl
        from stats s
        cross join lateral unnest(s.parr) as p(score)
        offset 0) as q
)
select 'segment' as kind, g.d, g.val, g.hi - g.lo as n_labeled, g.phi - g.plo as n_positive,
       (select sum(x) from (select unnest(s.arr[g.lo + 1 : g.hi]) as x) as slice) as score_sum,
       s.arr[g.lo + 1] as min_score, s.arr[g.hi] as max_score,
       g.ubin, g.qbin, g.decile, g.tbucket,
       null::numeric as auc_twice, null::float8 as ap_sum, null::float8 as ks, null::float8[] as quantile_edges
from binned g
join stats s on ${sameGroup('s', 'g')}
union all
select 'ranks', s.d, s.val, s.n, s.npos, null, null, null, null, null, null, null,
       r.auc_twice, r.ap_sum, r.ks, s.qedges
from stats s
left join (
  select d, val,
         -- 2 × Σ over positives of (negatives below + ½ negatives tied) = Σ (neg below + neg ≤)
         sum((below - pbelow) + (le - pl)) as auc_twice,
         -- Σ over positives of precision at their score (scores ≥ it)
         sum((npos - pbelow)::float8 / (n - below)) as ap_sum,
         -- |F_pos − F_neg| peaks next to a positive: just below its score or at it
         max(greatest(abs(pbelow::float8 / npos - (below - pbelow)::float8 / nullif(n - npos, 0)),
                      abs(pl::float8 / npos - (le - pl)::float8 / nullif(n - npos, 0)))) as ks
  from placed
  group by d, val
) as r on ${sameGroup('r', 's')}`;
  return { sql, bindings };
}
