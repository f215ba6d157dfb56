/**
 * Sufficient statistics for drift between a reference cohort and the current one, for one
 * variable at a time: the prediction score, a numeric key of `predictions.features`, or a
 * categorical variable (a string-valued feature key, or a slice dimension: `region`,
 * `environment`, `segment.<key>`). Keys are bound values (`features ->> :feature`), never
 * spliced into the text.
 * Every statement takes `:model` and, per side, `:<side>_version`, `:<side>_environment`,
 * `:<side>_start`, `:<side>_end` for side `reference` and `current`.
 */

const sideWhere = (side: 'reference' | 'current') => `p.model_name = :model and p.model_version = :${side}_version
    and (:${side}_environment::text is null or p.environment = :${side}_environment::text)
    and p.ts_pred >= :${side}_start::timestamptz and p.ts_pred < :${side}_end::timestamptz`;

/**
 * One side's values of the score or of numeric feature `:feature` as `v`; a row whose feature
 * holds another JSON type (not null) has `v` null and `other` true: left out of the measures,
 * counted, since a key whose type changed between the cohorts would otherwise show as no drift.
 */
const sample = (side: 'reference' | 'current') => `
  select case when :feature::text is null then p.score
              when jsonb_typeof(p.features -> :feature::text) = 'number' then (p.features ->> :feature::text)::float8 end as v,
         coalesce(jsonb_typeof(p.features -> :feature::text) not in ('number', 'null'), false) as other
  from predictions p
  where ${sideWhere(side)}
    and (:feature::text is not null or p.score is not null)`;

/**
 * The feature keys of the reference cohort with the kinds of value each holds: the known set a
 * requested feature must be in. A key with any number is numeric; one with strings and no
 * number is categorical.
 */
export const FEATURE_KINDS = `
select e.key,
       bool_or(jsonb_typeof(e.value) = 'number') as numeric,
       bool_or(jsonb_typeof(e.value) = 'string') as string
from predictions p cross join lateral jsonb_each(coalesce(p.features, '{}'::jsonb)) as e(key, value)
where ${sideWhere('reference')}
group by e.key
order by e.key`;

/**
 * Reference deciles (linear interpolation, as numpy.quantile) frozen as the bin edges,
 * rows per bin on both sides (width_bucket: a value equal to an edge goes to the bin above),
 * and the two-sample KS statistic: the largest gap between the two empirical CDFs, taken
 * at every distinct value.
 */
export const DRIFT_STATISTICS = `
with reference_rows as materialized (${sample('reference')}),
current_rows as materialized (${sample('current')}),
reference as (select v from reference_rows where v is not null),
current_sample as (select v from current_rows where v is not null),
edges as (
  select percentile_cont(:quantiles::float8[]) within group (order by v) as edges from reference
),
reference_bins as (
  select width_bucket(r.v, e.edges) as bin, count(*) as n from reference r cross join edges e
  where e.edges is not null group by 1
),
current_bins as (
  select width_bucket(c.v, e.edges) as bin, count(*) as n from current_sample c cross join edges e
  where e.edges is not null group by 1
),
per_value as (
  select coalesce(r.v, c.v) as v, coalesce(r.n, 0) as reference_n, coalesce(c.n, 0) as current_n
  from (select v, count(*) as n from reference group by v) r
  full join (select v, count(*) as n from current_sample group by v) c on c.v = r.v
),
ecdf as (
  select (sum(reference_n) over w)::float8 / nullif(sum(reference_n) over (), 0)::float8 as f_reference,
         (sum(current_n) over w)::float8 / nullif(sum(current_n) over (), 0)::float8 as f_current
  from per_value
  window w as (order by v rows unbounded preceding)
)
select (select edges from edges) as edges,
       (select count(*) from reference) as n_reference,
       (select count(*) from current_sample) as n_current,
       (select coalesce(jsonb_object_agg(bin, n), '{}') from reference_bins) as reference_counts,
       (select coalesce(jsonb_object_agg(bin, n), '{}') from current_bins) as current_counts,
       (select max(abs(f_reference - f_current)) from ecdf) as ks,
       (select count(*) from reference_rows where other)::int as reference_other,
       (select count(*) from current_rows where other)::int as current_other`;

const categoryRows = (side: 'reference' | 'current') => `
  select case :source::text
           when 'feature' then case when jsonb_typeof(p.features -> :key::text) = 'string' then p.features ->> :key::text end
           when 'segment' then p.segment ->> :key::text
           when 'region' then p.region
           when 'environment' then p.environment
         end as v,
         :source::text = 'feature' and coalesce(jsonb_typeof(p.features -> :key::text) not in ('string', 'null'), false) as other
  from predictions p
  where ${sideWhere(side)}`;

/**
 * Rows per category on both sides, `{category: rows}`, of one categorical variable: `:source`
 * 'feature' (string values of feature `:key`; other values and absent keys are left out),
 * 'segment' (`segment ->> :key`), 'region' or 'environment' (the columns; nulls left out);
 * and per side the rows whose feature holds another JSON type than a string (`*_other`).
 */
export const CATEGORY_COUNTS = `
with reference_rows as materialized (${categoryRows('reference')}),
current_rows as materialized (${categoryRows('current')})
select (select coalesce(jsonb_object_agg(v, n), '{}') from (select v, count(*) as n from reference_rows where v is not null group by v) r)
         as reference_counts,
       (select coalesce(jsonb_object_agg(v, n), '{}') from (select v, count(*) as n from current_rows where v is not null group by v) c)
         as current_counts,
       (select count(*) from reference_rows where other)::int as reference_other,
       (select count(*) from current_rows where other)::int as current_other`;
