import type { Knex } from 'knex';
import { applyCalibrator, type CalibratorParameters } from '../../client/calibrator';
import type { LabelDefinition } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { CHUNK_PERIOD_STARTS, CHUNK_ROWS, CHUNK_STARTS } from '../../sql/estimate-chunks';
import { CREATE_MATCHES, createLabeled, joinBindingsFor } from '../../sql/join-outcomes';
import { CHUNK_METRICS, estimateChunk, realizedChunk, referenceBand, type ChunkMetric, type ChunkMetrics } from '../../stats/cbpe-estimate';
import { fitIsotonic } from '../../stats/isotonic';
import { fitPlatt } from '../../stats/platt';

export type Calibration = 'none' | 'isotonic' | 'platt';

/** A model version's predictions in `[from, to)`, cut into chunks by a period or a count. */
export interface ChunkedRange {
  model_version: string;
  environment: string | null;
  from: string;
  to: string;
}

export interface EstimateChunksInput {
  model_name: string;
  definition: LabelDefinition;
  analysis: ChunkedRange;
  reference: ChunkedRange;
  /** `{ every: 'P7D' }` (an ISO duration) or `{ size: 5000 }` (predictions per chunk). */
  chunking: { every: string } | { size: number };
  /** Default: isotonic when the reference has labels, else none. */
  calibration?: Calibration;
  /** Labels received by this moment count (realized values, the calibrator, the band). */
  asOf: string;
}

export interface EstimatedChunk {
  from: string;
  to: string;
  n: number;
  n_labeled: number;
  estimated: ChunkMetrics;
  /** From the labels received by as-of, over the labeled predictions; null when none is. */
  realized: ChunkMetrics | null;
  band: Record<ChunkMetric, [number, number] | null>;
  /** Metrics whose estimate lies outside the reference band. */
  outside_band: ChunkMetric[];
}

export interface ChunkEstimates {
  reference: { from: string; to: string; n: number; n_labeled: number; calibration: Calibration; chunks: number };
  chunks: EstimatedChunk[];
  /** What makes the estimate less trustworthy (analysis scores beyond what the calibrator was fitted on). */
  warnings: string[];
}

/** A share of analysis predictions scored beyond the calibrator's labeled scores above this is warned of. */
const EXTRAPOLATED_SHARE = 0.01;

/**
 * Scores outside the range of the labeled reference scores a calibrator was fitted on get its
 * end value (isotonic) or its logistic's extrapolation (Platt): nothing in the reference says
 * how often they turn out positive. A reference labeled only below some score (approved loans,
 * reviewed cases) leaves every score above it there.
 */
function extrapolationWarning(
  calibration: Calibration,
  labeledReference: ReadonlyArray<{ score: number }>,
  analysis: ReadonlyArray<{ scores: number[] }>,
): string | null {
  if (calibration === 'none' || labeledReference.length === 0) return null;
  let low = Infinity;
  let high = -Infinity;
  for (const { score } of labeledReference) {
    low = Math.min(low, score);
    high = Math.max(high, score);
  }
  let n = 0;
  let outside = 0;
  for (const chunk of analysis) {
    n += chunk.scores.length;
    for (const score of chunk.scores) if (score < low || score > high) outside += 1;
  }
  if (n === 0 || outside / n <= EXTRAPOLATED_SHARE) return null;
  return (
    `${outside} of ${n} analysis predictions (${Number(((100 * outside) / n).toPrecision(3))}%) score outside ` +
    `[${Number(low.toPrecision(4))}, ${Number(high.toPrecision(4))}], the range of the reference's labeled scores the ` +
    `${calibration} calibrator was fitted on: their probabilities are extrapolated, not learned, and the estimate ` +
    'rests on them (with labels only below or above some score, --calibrate none reads the raw scores instead)'
  );
}

/** More chunks than this in one range is a mistake (`--every PT1S` over a month), refused rather than read. */
export const MAX_CHUNKS = 1000;

export class EstimateInputError extends Error {
  override readonly name = 'EstimateInputError';
}

interface ChunkRows {
  from: string;
  to: string;
  scores: number[];
  flagged: number[];
  labels: Array<number | null>;
}

/** The chunks' `[from, to)` boundaries: every period from `from`, or every `size` predictions. */
async function chunkBounds(
  db: Knex,
  model: string,
  definition: LabelDefinition,
  range: ChunkedRange,
  chunking: EstimateChunksInput['chunking'],
) {
  const to = toUtcIso(range.to);
  let starts: string[];
  if ('every' in chunking) {
    // from + k · every, each from the range's start (not from the chunk before: from May 31,
    // P1M gives Jun 30, Jul 31, Aug 31, where adding to each end would give Jul 30, Aug 30).
    const periods = (
      (await db.raw(CHUNK_PERIOD_STARTS, { from: toUtcIso(range.from), every: chunking.every, max_chunks: MAX_CHUNKS })).rows as Array<{
        start: string;
      }>
    ).map((row) => row.start);
    if (Date.parse(periods[1]!) <= Date.parse(periods[0]!)) {
      throw new EstimateInputError(`--every ${chunking.every} is not longer than zero; give a period such as P7D`);
    }
    if (Date.parse(periods[MAX_CHUNKS]!) < Date.parse(to)) {
      throw new EstimateInputError(
        `--every ${chunking.every} cuts [${toUtcIso(range.from)}, ${to}) into more than ${MAX_CHUNKS} chunks; give a longer period`,
      );
    }
    starts = periods.filter((start) => Date.parse(start) < Date.parse(to));
  } else {
    const bindings = joinBindingsFor({ model_name: model, ...range, start: range.from, end: range.to }, definition, range.to);
    const rows = (await db.raw(CHUNK_STARTS, { ...bindings, chunk_size: chunking.size, max_starts: MAX_CHUNKS + 1 })).rows as Array<{
      start: string;
    }>;
    // Distinct starts (sql/estimate-chunks.ts): predictions logged at the same millisecond stay together.
    starts = rows.map((row, k) => (k === 0 ? toUtcIso(range.from) : toUtcIso(row.start)));
    if (starts.length > MAX_CHUNKS) {
      throw new EstimateInputError(
        `--chunk-size ${chunking.size} cuts [${toUtcIso(range.from)}, ${to}) into more than ${MAX_CHUNKS} chunks; give a larger size`,
      );
    }
  }
  return starts.map((start, k) => ({ from: start, to: starts[k + 1] ?? to }));
}

/** Each chunk's rows, labeled as of `asOf` exactly as the evaluation labels them. */
async function readChunks(db: Knex, input: EstimateChunksInput, range: ChunkedRange): Promise<ChunkRows[]> {
  const bounds = await chunkBounds(db, input.model_name, input.definition, range, input.chunking);
  const chunks: ChunkRows[] = [];
  for (const bound of bounds) {
    const cohort = {
      model_name: input.model_name,
      model_version: range.model_version,
      environment: range.environment,
      start: bound.from,
      end: bound.to,
    };
    const bindings = joinBindingsFor(cohort, input.definition, input.asOf);
    const row = await db.transaction(
      async (trx) => {
        await trx.raw('set local jit = off');
        await trx.raw(CREATE_MATCHES, bindings);
        await trx.raw(createLabeled(input.definition.slices, { probabilityScores: true }), bindings);
        return (await trx.raw(CHUNK_ROWS)).rows[0] as { scores: number[]; flagged: number[]; labels: Array<number | null> };
      },
      { isolationLevel: 'repeatable read' },
    );
    chunks.push({
      ...bound,
      scores: row.scores.map(Number),
      flagged: row.flagged.map(Number),
      labels: row.labels.map((y) => (y === null ? null : Number(y))),
    });
  }
  return chunks;
}

/** The labeled rows of a chunk, and its realized metrics (null with none). */
function realizedOf(chunk: ChunkRows): { n_labeled: number; metrics: ChunkMetrics | null } {
  const labeled = chunk.labels.flatMap((y, i) => (y === null ? [] : [i]));
  if (labeled.length === 0) return { n_labeled: 0, metrics: null };
  return {
    n_labeled: labeled.length,
    metrics: realizedChunk(
      labeled.map((i) => chunk.scores[i]!),
      labeled.map((i) => chunk.labels[i]!),
      labeled.map((i) => chunk.flagged[i]!),
    ),
  };
}

function fitCalibrator(calibration: Calibration, scores: number[], labels: number[]): CalibratorParameters | null {
  if (calibration === 'none') return null;
  return calibration === 'isotonic'
    ? { method: 'isotonic', parameters: fitIsotonic(scores, labels) }
    : { method: 'platt', parameters: fitPlatt(scores, labels) };
}

/**
 * The calibration `estimate` applies (also the `estimated_drop` rule's and `diagnose`'s): the
 * calibrator fitted on the reference's labeled predictions, and the probability each score is
 * read as. Requested none (or nothing, without labeled reference rows of both classes): the
 * score itself; nothing requested with both: isotonic. `option` names the setting in the error
 * a request without labels, or with labels of one class only, gets.
 */
export function referenceCalibration(
  requested: Calibration | undefined,
  labeledReference: ReadonlyArray<{ score: number; y: number }>,
  asOf: string,
  option: string,
): { calibration: Calibration; calibrator: CalibratorParameters | null; probability: (score: number) => number } {
  // A calibrator fitted on one class maps every score to 0 or to 1 (isotonic), or to one side
  // of its smoothed targets (Platt): no probability at all. Nothing requested, read the scores.
  const positives = labeledReference.reduce((sum, row) => sum + (row.y === 1 ? 1 : 0), 0);
  const bothClasses = positives > 0 && positives < labeledReference.length;
  const calibration = requested ?? (bothClasses ? 'isotonic' : 'none');
  if (calibration !== 'none' && labeledReference.length === 0) {
    throw new EstimateInputError(
      `${option} ${calibration} needs labeled predictions in the reference range, and it has none as of ${toUtcIso(asOf)}`,
    );
  }
  if (calibration !== 'none' && !bothClasses) {
    throw new EstimateInputError(
      `${option} ${calibration} needs positive and negative labels in the reference range, and its ${labeledReference.length} ` +
        `labeled predictions as of ${toUtcIso(asOf)} are all ${positives > 0 ? 'positive' : 'negative'}; give ${option} none`,
    );
  }
  const calibrator = fitCalibrator(
    calibration,
    labeledReference.map((row) => row.score),
    labeledReference.map((row) => row.y),
  );
  return {
    calibration,
    calibrator,
    probability: (score: number) => (calibrator === null ? score : applyCalibrator(calibrator, score)),
  };
}

/**
 * The labeled predictions of `ranges` as of `asOf` (score and 0/1 label), read as `estimate`
 * reads its reference: what {@link referenceCalibration} fits on.
 */
export async function labeledReferenceRows(
  db: Knex,
  model: string,
  definition: LabelDefinition,
  ranges: readonly ChunkedRange[],
  asOf: string,
): Promise<Array<{ score: number; y: number }>> {
  const rows: Array<{ score: number; y: number }> = [];
  for (const range of ranges) {
    const input = { model_name: model, definition, analysis: range, reference: range, chunking: { size: Number.MAX_SAFE_INTEGER }, asOf };
    for (const chunk of await readChunks(db, input, range))
      chunk.labels.forEach((y, i) => {
        if (y !== null) rows.push({ score: chunk.scores[i]!, y });
      });
  }
  return rows;
}

/**
 * Each reference chunk's realized metrics (labels as of `asOf`; chunks without a label left
 * out) and their band, mean ± `sigmas` standard deviations, as `estimate` draws it.
 */
export async function realizedReferenceBand(
  db: Knex,
  input: Pick<EstimateChunksInput, 'model_name' | 'definition' | 'reference' | 'chunking' | 'asOf'>,
  sigmas: number,
): Promise<{ chunks: ChunkMetrics[]; band: Record<ChunkMetric, [number, number] | null> }> {
  const chunks = (await readChunks(db, { ...input, analysis: input.reference }, input.reference)).flatMap(
    (chunk) => realizedOf(chunk).metrics ?? [],
  );
  return { chunks, band: referenceBand(chunks, sigmas) };
}

/**
 * `hindsight estimate` (docs/diagnose.md): the label-free CBPE estimate of each chunk of the
 * analysis range, from probabilities calibrated on the reference's labeled predictions (the
 * decisions stay the model's: its logged decision or score ≥ threshold, as the definition
 * says), beside the realized value where labels exist, and the band of the reference chunks'
 * realized values (mean ± 3 standard deviations) each estimate is judged against.
 */
export async function estimateChunks(db: Knex, input: EstimateChunksInput): Promise<ChunkEstimates> {
  if (input.definition.task !== 'binary') {
    throw new EstimateInputError(
      `label definition ${input.definition.name}@${input.definition.version} is ${input.definition.task}; the estimate needs a binary one`,
    );
  }
  const earliest = [input.reference.from, input.analysis.from].reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
  if (Date.parse(input.asOf) < Date.parse(earliest)) {
    throw new EstimateInputError(
      `--as-of ${toUtcIso(input.asOf)} is before both ranges begin (${toUtcIso(earliest)}): no outcome of them can have been ` +
        `received by then; give an --as-of at or after ${toUtcIso(earliest)}`,
    );
  }
  const referenceChunks = await readChunks(db, input, input.reference);
  const analysisChunks = await readChunks(db, input, input.analysis);
  // An empty range is a mistake in its flags (a version, an environment, dates), said rather
  // than shown as chunks of nothing or a reference without a band.
  for (const [name, range, chunks] of [
    ['reference', input.reference, referenceChunks],
    ['analysis', input.analysis, analysisChunks],
  ] as const) {
    if (chunks.every((chunk) => chunk.scores.length === 0)) {
      throw new EstimateInputError(
        `the ${name} range [${toUtcIso(range.from)}, ${toUtcIso(range.to)}) has no predictions of ${input.model_name} ` +
          `${range.model_version}${range.environment === null ? '' : ` in ${range.environment}`} with a score in [0, 1]` +
          (input.definition.decision_source === 'logged' ? ' and a logged decision' : ''),
      );
    }
  }
  const labeledReference = referenceChunks.flatMap((chunk) =>
    chunk.labels.flatMap((y, i) => (y === null ? [] : [{ score: chunk.scores[i]!, y }])),
  );
  const { calibration, probability } = referenceCalibration(input.calibration, labeledReference, input.asOf, '--calibrate');
  const band = referenceBand(referenceChunks.flatMap((chunk) => realizedOf(chunk).metrics ?? []));
  const chunks = analysisChunks.map((chunk): EstimatedChunk => {
    const estimated = estimateChunk(chunk.scores.map(probability), chunk.flagged);
    const realized = realizedOf(chunk);
    return {
      from: chunk.from,
      to: chunk.to,
      n: chunk.scores.length,
      n_labeled: realized.n_labeled,
      estimated,
      realized: realized.metrics,
      band,
      outside_band: CHUNK_METRICS.filter((metric) => {
        const value = estimated[metric];
        const limits = band[metric];
        return value !== null && limits !== null && (value < limits[0] || value > limits[1]);
      }),
    };
  });
  return {
    reference: {
      from: toUtcIso(input.reference.from),
      to: toUtcIso(input.reference.to),
      n: referenceChunks.reduce((sum, chunk) => sum + chunk.scores.length, 0),
      n_labeled: labeledReference.length,
      calibration,
      chunks: referenceChunks.length,
    },
    chunks,
    warnings: [extrapolationWarning(calibration, labeledReference, analysisChunks)].filter((w): w is string => w !== null),
  };
}
