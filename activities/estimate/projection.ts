import type { Knex } from 'knex';
import type { ProjectedGroup, ProjectedMetrics, ProjectedValue } from '../../contracts/evaluation';
import { completenessByCell } from '../../sql/estimate-projection';
import { CREATE_MATCHES, createLabeled, joinBindingsFor } from '../../sql/join-outcomes';
import type { CohortRecord } from '../../contracts/cohort';
import type { EvaluationDocument, GroupMetrics } from '../../contracts/evaluation';
import { isoDurationSchema } from '../../contracts/iso-duration';
import type { LabelDefinition } from '../../contracts/label-definition';
import { finalizedCohorts, finalizedSelector } from '../evaluate/label-latency';
import { seededRandom } from '../../stats/seeded-random';

export interface ProjectToFinalInput {
  cohort: CohortRecord;
  definition: LabelDefinition;
  /** The snapshot's checkpoint: an ISO duration after the cohort end (else the as-of's distance from it is used). */
  checkpoint: string;
  asOf: string;
  /** The provisional evaluation as of `asOf`. */
  document: EvaluationDocument;
}

/** Draws of the simulation behind each interval. */
export const PROJECTION_DRAWS = 2000;

type Cell = 'tp' | 'fn' | 'fp' | 'tn';
type CellCounts = Record<Cell, { eventual: number; known: number }>;

const groupKey = (dim: string, val: string | null) => JSON.stringify([dim, val]);
const emptyCells = (): CellCounts => ({
  tp: { eventual: 0, known: 0 },
  fn: { eventual: 0, known: 0 },
  fp: { eventual: 0, known: 0 },
  tn: { eventual: 0, known: 0 },
});

/** The confusion counts of a provisional group, recovered exactly from its ratios of integers. */
interface Observed {
  positives: number;
  tp: number;
  /** Labeled flagged predictions; null when tp = 0 and precision 0 leave it unknown (only that it is > 0). */
  flagged: number | null;
  labeled: number;
}

function observedCounts(metrics: GroupMetrics): Observed | null {
  if (!('recall' in metrics)) return null;
  const positives = metrics.n_positive;
  const tp = metrics.recall === null ? 0 : Math.round(metrics.recall * positives);
  const flagged = metrics.precision === null ? 0 : tp > 0 ? Math.round(tp / metrics.precision) : null;
  return { positives, tp, flagged, labeled: metrics.n_labeled };
}

/** Pooled completeness of each cell over the given history cohorts (indexes into `perCohort`). */
function pooled(perCohort: CellCounts[], picks: readonly number[]): Record<Cell | 'negatives', number | null> {
  const sum = (cells: readonly Cell[], field: 'eventual' | 'known') =>
    picks.reduce((total, k) => total + cells.reduce((s, cell) => s + perCohort[k]![cell][field], 0), 0);
  const share = (cells: readonly Cell[]) => {
    const eventual = sum(cells, 'eventual');
    return eventual === 0 ? null : sum(cells, 'known') / eventual;
  };
  return { tp: share(['tp']), fn: share(['fn']), fp: share(['fp']), tn: share(['tn']), negatives: share(['fp', 'tn']) };
}

interface Finals {
  recall: number | null;
  precision: number | null;
  positive_rate: number | null;
}

/** How a count of known labels grows to its final count, given the share of such labels known by now; null when it cannot be told. */
type Grow = (count: number, completeness: number | null) => number | null;

/**
 * The final metrics from the observed counts (docs/diagnose.md): each cell of the confusion
 * matrix grows by its own completeness. Under `absent_means: negative` only positives are
 * still to come: the flagged predictions stay flagged, and whatever does not turn positive
 * is a negative. (With no flagged positive known and the flagged negatives' count not
 * recoverable, precision is 0 however they grow, and the negatives grow together.)
 */
function projectCounts(
  observed: Observed,
  completeness: Record<Cell | 'negatives', number | null>,
  absentNegative: boolean,
  grow: Grow,
): Finals {
  const tp = grow(observed.tp, completeness.tp);
  const fn = grow(observed.positives - observed.tp, completeness.fn);
  if (tp === null || fn === null) return { recall: null, precision: null, positive_rate: null };
  const positives = tp + fn;
  const recall = positives > 0 ? tp / positives : null;
  if (absentNegative) {
    const precision = observed.flagged === 0 ? null : tp === 0 ? 0 : tp / Math.max(observed.flagged ?? tp, tp);
    return { recall, precision, positive_rate: observed.labeled > 0 ? positives / observed.labeled : null };
  }
  const negatives = observed.labeled - observed.positives;
  let fp: number | null;
  let finalNegatives: number | null;
  if (observed.flagged === null) {
    fp = null;
    finalNegatives = grow(negatives, completeness.negatives);
  } else {
    const flaggedNegatives = observed.flagged - observed.tp;
    fp = grow(flaggedNegatives, completeness.fp);
    const tn = grow(negatives - flaggedNegatives, completeness.tn);
    finalNegatives = fp === null || tn === null ? null : fp + tn;
  }
  if (finalNegatives === null) return { recall, precision: null, positive_rate: null };
  const precision = observed.flagged === 0 ? null : fp === null ? 0 : tp + fp > 0 ? tp / (tp + fp) : null;
  const labeled = positives + finalNegatives;
  return { recall, precision, positive_rate: labeled > 0 ? positives / labeled : null };
}

/** The count divided by its completeness: the point projection. */
const pointGrow: Grow = (count, completeness) =>
  count === 0 ? 0 : completeness === null || completeness === 0 ? null : count / completeness;

/**
 * One simulated final count: the labels still to come after `count` known ones, each
 * eventual label having been known with probability `completeness`, are negative-binomial
 * with mean count·(1 − c)/c and variance count·(1 − c)/c², drawn here from its normal
 * approximation and floored at 0.
 */
const drawGrow =
  (normal: () => number): Grow =>
  (count, completeness) => {
    if (count === 0) return 0;
    if (completeness === null || completeness === 0) return null;
    const mean = (count * (1 - completeness)) / completeness;
    const sd = Math.sqrt(count * (1 - completeness)) / completeness;
    return count + Math.max(0, mean + sd * normal());
  };

/** numpy.percentile's default (linear between order statistics) of sorted values. */
function percentile(sorted: number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  return sorted[lower]! + (sorted[Math.min(lower + 1, sorted.length - 1)]! - sorted[lower]!) * (position - lower);
}

/** FNV-1a of the text, so each cohort and checkpoint gets its own fixed simulation seed. */
function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * One group's projection: the point from the pooled completeness of all history cohorts,
 * the interval from {@link PROJECTION_DRAWS} draws, each resampling the history cohorts with
 * replacement (how much completeness varies between cohorts) and then drawing the labels
 * still to come (how much it varies within one).
 */
function projectGroup(metrics: GroupMetrics, perCohort: CellCounts[], absentNegative: boolean, seed: number): ProjectedGroup {
  const observedValues = {
    recall: 'recall' in metrics ? metrics.recall : null,
    precision: 'precision' in metrics ? metrics.precision : null,
    positive_rate: 'base_rate' in metrics ? metrics.base_rate : null,
  };
  const observed = observedCounts(metrics);
  const point =
    observed === null
      ? null
      : projectCounts(
          observed,
          pooled(
            perCohort,
            perCohort.map((_, k) => k),
          ),
          absentNegative,
          pointGrow,
        );
  const draws: Record<keyof Finals, number[]> = { recall: [], precision: [], positive_rate: [] };
  if (observed !== null && point !== null) {
    const random = seededRandom(seed);
    for (let b = 0; b < PROJECTION_DRAWS; b++) {
      const picks = perCohort.map(() => Math.floor(random.next() * perCohort.length));
      const drawn = projectCounts(observed, pooled(perCohort, picks), absentNegative, drawGrow(random.normal));
      for (const metric of Object.keys(draws) as Array<keyof Finals>) if (drawn[metric] !== null) draws[metric].push(drawn[metric]);
    }
  }
  const value = (metric: keyof Finals): ProjectedValue => {
    const sorted = draws[metric].sort((a, b) => a - b);
    // an interval from a minority of draws would describe the draws, not the cohort
    const interval = point?.[metric] !== null && sorted.length >= PROJECTION_DRAWS / 2;
    return {
      observed: observedValues[metric],
      projected: point?.[metric] ?? null,
      ci_low: interval ? percentile(sorted, 0.025) : null,
      ci_high: interval ? percentile(sorted, 0.975) : null,
    };
  };
  return { recall: value('recall'), precision: value('precision'), positive_rate: value('positive_rate') };
}

/**
 * Projects a provisional snapshot's recall, precision and positive rate to finalization
 * (docs/diagnose.md): from the finalized cohorts of the same model and definition (the
 * latency history), the share of each kind of eventual label they had received by the same
 * checkpoint, per slice; each of the snapshot's counts grows by its own share. Null when
 * there is nothing to project from: no finalized cohort with eventual positives, or a
 * regression definition.
 */
export async function projectToFinal(db: Knex, input: ProjectToFinalInput): Promise<ProjectedMetrics | null> {
  const { cohort, definition, document } = input;
  if (definition.task !== 'binary') return null;
  const bindings = joinBindingsFor(cohort, definition, input.asOf);
  const checkpointInterval = isoDurationSchema.safeParse(input.checkpoint).success
    ? input.checkpoint
    : `${(Date.parse(bindings.as_of) - Date.parse(bindings.end_ts)) / 1000} seconds`;
  const history = await finalizedCohorts(db, bindings, definition);
  if (history.length === 0) return null;

  // per group, one CellCounts per history cohort (in history order)
  const groups = new Map<string, CellCounts[]>();
  for (const [k, earlier] of history.entries()) {
    const earlierBindings = {
      ...joinBindingsFor(finalizedSelector(earlier), definition, input.asOf),
      checkpoint: checkpointInterval,
    };
    const rows = await db.transaction(
      async (trx) => {
        await trx.raw(CREATE_MATCHES, earlierBindings);
        await trx.raw(createLabeled(definition.slices, { probabilityScores: true }), earlierBindings);
        return (await trx.raw(completenessByCell(definition.slices), earlierBindings)).rows as Array<{
          dim: string;
          val: string | null;
          y: number;
          flagged: boolean;
          eventual: number;
          known: number;
        }>;
      },
      { isolationLevel: 'repeatable read' },
    );
    for (const row of rows) {
      const key = groupKey(row.dim, row.val);
      const perCohort = groups.get(key) ?? history.map(emptyCells);
      const cell: Cell = row.y === 1 ? (row.flagged ? 'tp' : 'fn') : row.flagged ? 'fp' : 'tn';
      perCohort[k]![cell] = { eventual: row.eventual, known: row.known };
      groups.set(key, perCohort);
    }
  }
  const overallHistory = groups.get(groupKey('', '')) ?? history.map(emptyCells);
  const all = pooled(
    overallHistory,
    history.map((_, k) => k),
  );
  const positives = (field: 'eventual' | 'known') => overallHistory.reduce((sum, cells) => sum + cells.tp[field] + cells.fn[field], 0);
  if (positives('eventual') === 0) return null;

  const absentNegative = definition.absent_means === 'negative';
  const seed = seedOf(`${cohort.cohort_id} ${input.checkpoint}`);
  return {
    checkpoint: input.checkpoint,
    as_of: bindings.as_of,
    expected_completeness: positives('known') / positives('eventual'),
    completeness: {
      flagged_positives: all.tp,
      unflagged_positives: all.fn,
      flagged_negatives: absentNegative ? null : all.fp,
      unflagged_negatives: absentNegative ? null : all.tn,
    },
    history_cohorts: history.map((row) => row.cohort_id),
    overall: projectGroup(document.overall, overallHistory, absentNegative, seed),
    slices: document.slices.map((slice) => ({
      dimension: slice.dimension,
      value: slice.value,
      ...projectGroup(slice, groups.get(groupKey(slice.dimension, slice.value)) ?? history.map(emptyCells), absentNegative, seed),
    })),
  };
}
