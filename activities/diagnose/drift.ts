import type { Knex } from 'knex';
import { DRIFT_STATISTICS, NUMERIC_FEATURES } from '../../sql/drift';
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
  /** Numeric feature keys to compare; default all numeric keys of the reference. */
  features?: string[];
}

export interface DriftBin {
  lower: number | null;
  upper: number | null;
  reference_share: number;
  current_share: number;
}

export interface VariableDrift {
  variable: string;
  n_reference: number;
  n_current: number;
  psi: number | null;
  ks: number | null;
  undefined_metrics: Record<string, string>;
  bins: DriftBin[];
}

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

/**
 * PSI and two-sample KS of the score and of numeric features between a reference cohort
 * and the current one. Postgres counts (bin edges, rows per bin, the ECDF gap); the index
 * itself is pure ({@link computePsi}). Feature names are checked against the reference's
 * numeric keys and bound, never spliced into SQL.
 */
export async function computeDrift(db: Knex, input: ComputeDriftInput): Promise<DriftDocument> {
  const reference = { ...input.reference, start: toUtcIso(input.reference.start), end: toUtcIso(input.reference.end) };
  const current = { ...input.current, start: toUtcIso(input.current.start), end: toUtcIso(input.current.end) };
  const bindings = {
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
  const known = ((await db.raw(NUMERIC_FEATURES, bindings)).rows as Array<{ key: string }>).map((row) => row.key);
  const unknown = (input.features ?? []).filter((feature) => !known.includes(feature));
  if (unknown.length > 0) {
    throw new UnknownFeatureError(
      `not a numeric feature of the reference cohort: ${unknown.join(', ')}; known: ${known.join(', ') || '(none)'}`,
    );
  }
  const variables: VariableDrift[] = [];
  for (const feature of [null, ...(input.features ?? known)]) {
    const row = (await db.raw(DRIFT_STATISTICS, { ...bindings, feature })).rows[0] as {
      edges: number[] | null;
      n_reference: number;
      n_current: number;
      reference_counts: Record<string, number>;
      current_counts: Record<string, number>;
      ks: number | null;
    };
    const psi = computePsi(countsPerBin(row.reference_counts), countsPerBin(row.current_counts));
    const reasons: Record<string, string> = {};
    if (psi.reason) reasons.psi = psi.reason;
    if (row.ks === null) reasons.ks = row.n_reference === 0 ? 'no reference values' : 'no current values';
    const edges = row.edges ?? [];
    variables.push({
      variable: feature === null ? 'score' : `features.${feature}`,
      n_reference: row.n_reference,
      n_current: row.n_current,
      psi: psi.psi,
      ks: row.ks,
      undefined_metrics: reasons,
      bins:
        edges.length === 0
          ? []
          : psi.reference_shares.map((share, k) => ({
              lower: k === 0 ? null : edges[k - 1]!,
              upper: k === edges.length ? null : edges[k]!,
              reference_share: share,
              current_share: psi.current_shares[k]!,
            })),
    });
  }
  return { model_name: input.model_name, reference, current, variables };
}
