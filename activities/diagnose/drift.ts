import type { Knex } from 'knex';
import { CATEGORY_COUNTS, DRIFT_STATISTICS, FEATURE_KINDS } from '../../sql/drift';
import { computeCategoricalDrift } from '../../stats/categorical-drift';
import { computePsi, PSI_QUANTILES } from '../../stats/drift';
import { toUtcIso } from '../../contracts/utc-timestamp';

/** One side of a drift comparison: a model version's predictions in `[start, end)`. */
export interface DriftCohort {
  model_version: string;
  environment: string | null;
  start: string;
  end: string;
}

export interface ComputeDriftInput {
  model_name: string;
  reference: DriftCohort;
  current: DriftCohort;
  /**
   * Feature keys to compare: numeric ones by PSI and KS, string-valued ones as categories.
   * Default all numeric and string-valued keys of the reference.
   */
  features?: string[];
  /** Slice dimensions to compare as categories: `region`, `environment`, `segment.<key>`. */
  slices?: string[];
}

/** Slice dimensions drift compares: the prediction columns and segment keys that hold categories. */
export const DRIFT_SLICE_PATTERN = /^(region|environment|segment\.[A-Za-z0-9_]{1,63})$/;

export interface DriftBin {
  lower: number | null;
  upper: number | null;
  reference_share: number;
  current_share: number;
}

export interface CategoryShare {
  value: string;
  reference_share: number;
  current_share: number;
}

/**
 * One variable's drift. Numeric (the score, numeric features): PSI over the reference's
 * deciles and KS, with `bins`. Categorical (string-valued features, slice dimensions): PSI over
 * the categories, Jensen–Shannon distance, the chi-squared test and L-infinity, with
 * `categories`. The measures of the other kind are null and its list empty.
 */
export interface VariableDrift {
  variable: string;
  kind: 'numeric' | 'categorical';
  n_reference: number;
  n_current: number;
  psi: number | null;
  ks: number | null;
  jensen_shannon: number | null;
  chi_squared: number | null;
  chi_squared_p_value: number | null;
  chi_squared_dof: number | null;
  l_infinity: number | null;
  undefined_metrics: Record<string, string>;
  /** Values of the feature left out for being of another type (strings of a numeric one, numbers of a categorical one), per side. */
  other_type: { reference: number; current: number };
  bins: DriftBin[];
  categories: CategoryShare[];
}

const NOT_CATEGORICAL = { jensen_shannon: null, chi_squared: null, chi_squared_p_value: null, chi_squared_dof: null, l_infinity: null };

export interface DriftDocument {
  model_name: string;
  reference: DriftCohort;
  current: DriftCohort;
  variables: VariableDrift[];
}

export class UnknownFeatureError extends Error {
  override readonly name = 'UnknownFeatureError';
}

/** Rows per bin 0..9 from SQL's `{bin: count}` object (width_bucket numbers bins 0..9). */
function countsPerBin(object: Record<string, number>): number[] {
  return Array.from({ length: PSI_QUANTILES.length + 1 }, (_, bin) => Number(object[String(bin)] ?? 0));
}

type Bindings = Record<string, string | number[] | null>;

/** The requested features in order, each with its kind, checked against the reference's keys (default all of them). */
async function featuresByKind(
  db: Knex,
  bindings: Bindings,
  requested: string[] | undefined,
): Promise<Array<{ key: string; kind: VariableDrift['kind'] }>> {
  const rows = (await db.raw(FEATURE_KINDS, bindings)).rows as Array<{ key: string; numeric: boolean; string: boolean }>;
  const numeric = rows.filter((row) => row.numeric).map((row) => row.key);
  const categorical = rows.filter((row) => !row.numeric && row.string).map((row) => row.key);
  const kinds = (keys: string[]) =>
    keys.map((key) => ({ key, kind: numeric.includes(key) ? ('numeric' as const) : ('categorical' as const) }));
  if (requested === undefined) return kinds(rows.map((row) => row.key).filter((key) => numeric.includes(key) || categorical.includes(key)));
  const unknown = requested.filter((feature) => !numeric.includes(feature) && !categorical.includes(feature));
  if (unknown.length > 0) {
    throw new UnknownFeatureError(
      `not a numeric or string-valued feature of the reference cohort: ${unknown.join(', ')}; ` +
        `numeric: ${numeric.join(', ') || '(none)'}; categorical: ${categorical.join(', ') || '(none)'}`,
    );
  }
  return kinds(requested);
}

async function numericDrift(db: Knex, bindings: Bindings, feature: string | null): Promise<VariableDrift> {
  const row = (await db.raw(DRIFT_STATISTICS, { ...bindings, feature })).rows[0] as {
    edges: number[] | null;
    n_reference: number;
    n_current: number;
    reference_counts: Record<string, number>;
    current_counts: Record<string, number>;
    ks: number | null;
    reference_other: number;
    current_other: number;
  };
  const psi = computePsi(countsPerBin(row.reference_counts), countsPerBin(row.current_counts));
  const reasons: Record<string, string> = {};
  if (psi.reason) reasons.psi = psi.reason;
  if (row.ks === null) reasons.ks = row.n_reference === 0 ? 'no reference values' : 'no current values';
  const edges = row.edges ?? [];
  return {
    variable: feature === null ? 'score' : `features.${feature}`,
    kind: 'numeric',
    n_reference: row.n_reference,
    n_current: row.n_current,
    psi: psi.psi,
    ks: row.ks,
    ...NOT_CATEGORICAL,
    undefined_metrics: reasons,
    other_type: { reference: row.reference_other, current: row.current_other },
    bins:
      edges.length === 0
        ? []
        : psi.reference_shares.map((share, k) => ({
            lower: k === 0 ? null : edges[k - 1]!,
            upper: k === edges.length ? null : edges[k]!,
            reference_share: share,
            current_share: psi.current_shares[k]!,
          })),
    categories: [],
  };
}

/** A string-valued feature (`features.<key>`) or a slice dimension, counted per category. */
async function categoricalDrift(db: Knex, bindings: Bindings, variable: string): Promise<VariableDrift> {
  const [source, key] = variable.startsWith('features.')
    ? ['feature', variable.slice('features.'.length)]
    : variable.startsWith('segment.')
      ? ['segment', variable.slice('segment.'.length)]
      : [variable, null];
  const row = (await db.raw(CATEGORY_COUNTS, { ...bindings, source, key })).rows[0] as {
    reference_counts: Record<string, number>;
    current_counts: Record<string, number>;
    reference_other: number;
    current_other: number;
  };
  const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + Number(n), 0);
  const toNumbers = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, Number(n)]));
  const result = computeCategoricalDrift(toNumbers(row.reference_counts), toNumbers(row.current_counts));
  const reasons: Record<string, string> = {};
  if (result.reason) {
    for (const measure of ['psi', 'jensen_shannon', 'chi_squared', 'l_infinity']) reasons[measure] = result.reason;
  }
  return {
    variable,
    kind: 'categorical',
    n_reference: total(row.reference_counts),
    n_current: total(row.current_counts),
    psi: result.psi,
    ks: null,
    jensen_shannon: result.jensen_shannon,
    chi_squared: result.chi_squared,
    chi_squared_p_value: result.chi_squared_p_value,
    chi_squared_dof: result.chi_squared_dof,
    l_infinity: result.l_infinity,
    undefined_metrics: reasons,
    other_type: { reference: row.reference_other, current: row.current_other },
    bins: [],
    categories: result.categories.map((value, k) => ({
      value,
      reference_share: result.reference_shares[k]!,
      current_share: result.current_shares[k]!,
    })),
  };
}

/**
 * Drift of the score, the features and the slice dimensions between a reference cohort and
 * the current one: PSI and two-sample KS for numeric variables; Jensen–Shannon distance, the
 * chi-squared test, L-infinity and PSI over the categories for categorical ones. Postgres
 * counts (bin edges, rows per bin or category, the ECDF gap); the measures are pure
 * ({@link computePsi}, {@link computeCategoricalDrift}). Feature names are checked against
 * the reference's keys and slice dimensions against {@link DRIFT_SLICE_PATTERN}; both are
 * bound, never spliced into SQL.
 */
export async function computeDrift(db: Knex, input: ComputeDriftInput): Promise<DriftDocument> {
  const reference = { ...input.reference, start: toUtcIso(input.reference.start), end: toUtcIso(input.reference.end) };
  const current = { ...input.current, start: toUtcIso(input.current.start), end: toUtcIso(input.current.end) };
  const badSlices = (input.slices ?? []).filter((dimension) => !DRIFT_SLICE_PATTERN.test(dimension));
  if (badSlices.length > 0) {
    throw new UnknownFeatureError(
      `not a slice dimension drift compares: ${badSlices.join(', ')}; use region, environment or segment.<key>`,
    );
  }
  const bindings: Bindings = {
    model: input.model_name,
    reference_version: reference.model_version,
    reference_environment: reference.environment,
    reference_start: reference.start,
    reference_end: reference.end,
    current_version: current.model_version,
    current_environment: current.environment,
    current_start: current.start,
    current_end: current.end,
    quantiles: [...PSI_QUANTILES],
  };
  const features = await featuresByKind(db, bindings, input.features);
  const variables: VariableDrift[] = [await numericDrift(db, bindings, null)];
  for (const { key, kind } of features) {
    variables.push(kind === 'numeric' ? await numericDrift(db, bindings, key) : await categoricalDrift(db, bindings, `features.${key}`));
  }
  for (const dimension of input.slices ?? []) variables.push(await categoricalDrift(db, bindings, dimension));
  return { model_name: input.model_name, reference, current, variables };
}
