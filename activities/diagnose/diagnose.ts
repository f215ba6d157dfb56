import type { Knex } from 'knex';
import { computeDrift } from './drift';
import type { CohortSelector } from '../../contracts/cohort';
import { LabelDefinitionError, type LabelDefinition } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { verdictOf, type Check } from './checks';
import { expectedLabelsCheck, labelAvailabilityCheck, labelLatencyCheck } from './label-checks';
import {
  comparableSlicesCheck,
  equalMaturityCheck,
  estimatedPerformanceCheck,
  scoreDistributionCheck,
  sliceMixCheck,
} from './model-checks';
import { gatherSide, historyExpectedPositives, type SideFacts } from './facts';
import { calibrationFor } from '../estimate/cbpe';
import type { Calibration } from '../estimate/estimate-chunks';

export type { Check, Signal } from './checks';

export type Verdict = 'quality' | 'labeling' | 'both' | 'none';

/** What `hindsight diagnose --json` prints (docs/diagnose.md). */
export interface Diagnosis {
  verdict: Verdict;
  cohort: CohortSelector;
  baseline: CohortSelector;
  as_of: string;
  baseline_as_of: string;
  label_definition: { name: string; version: number };
  checks: Check[];
}

export interface DiagnoseCohortInput {
  cohort: CohortSelector;
  baseline: CohortSelector;
  definition: LabelDefinition;
  asOf: string;
  baselineAsOf: string;
  /** The relative fall of a metric that counts as material (`diagnose --threshold`); default 5%, `RULES.metric_drop` of ./checks. */
  metricDrop?: number;
  /**
   * How the label-free estimate reads scores (`diagnose --calibrate`): through a calibrator
   * fitted on the baseline's labeled predictions as of `baselineAsOf`, as `hindsight estimate`
   * fits on its reference. Default: isotonic when the baseline has labels, else none.
   */
  calibration?: Calibration;
}

/** A side of the diagnosis without a prediction to diagnose. */
export class EmptyCohortError extends Error {
  override readonly name = 'EmptyCohortError';
}

/**
 * The baseline a cohort is judged against and the moment it is judged as of: by default the
 * previous period of the same length, else `range`; as of its own end plus the cohort's lag
 * (`asOf − cohort end`), so both sides have had labels for equally long.
 */
export function baselineFor(
  cohort: CohortSelector,
  asOf: string,
  range?: { start: string; end: string },
): { baseline: CohortSelector; baselineAsOf: string } {
  const start = Date.parse(cohort.start);
  const end = Date.parse(cohort.end);
  const baselineStart = range ? Date.parse(range.start) : start - (end - start);
  const baselineEnd = range ? Date.parse(range.end) : start;
  return {
    baseline: { ...cohort, start: new Date(baselineStart).toISOString(), end: new Date(baselineEnd).toISOString() },
    baselineAsOf: new Date(baselineEnd + (Date.parse(asOf) - end)).toISOString(),
  };
}

function describeSelector(cohort: CohortSelector): string {
  return (
    `${cohort.model_name} ${cohort.model_version}${cohort.environment === null ? '' : ` in ${cohort.environment}`}` +
    ` [${cohort.start}, ${cohort.end})`
  );
}

function requirePredictions(side: SideFacts, role: 'cohort' | 'baseline'): void {
  if (side.groups.find((g) => g.dimension === '')?.n) return;
  const invalid =
    side.invalid_score > 0
      ? `; its ${side.invalid_score} predictions all have a score outside [0, 1], which a binary definition cannot read`
      : '';
  throw new EmptyCohortError(`the ${role} ${describeSelector(side.cohort)} has no predictions to diagnose${invalid}`);
}

/**
 * Why a cohort's labeled metrics moved against its baseline: the checks a senior ML
 * engineer runs first (docs/diagnose.md), on the cohort as of `asOf` and the baseline as of
 * `baselineAsOf`, and the verdict their signals give: the labels (`labeling`), the model
 * (`quality`), `both` or `none`.
 */
export async function diagnoseCohort(db: Knex, input: DiagnoseCohortInput): Promise<Diagnosis> {
  const { definition } = input;
  if (definition.task !== 'binary') {
    throw new LabelDefinitionError(
      `label definition ${definition.name}@${definition.version} is a ${definition.task} definition; ` +
        `diagnose reads recall, precision and scores as probabilities and needs a binary one`,
    );
  }
  for (const side of [input.cohort, input.baseline]) {
    if (side.model_name !== definition.model_name) {
      throw new LabelDefinitionError(
        `label definition ${definition.name}@${definition.version} labels model ${definition.model_name}, not ${side.model_name}`,
      );
    }
  }
  const calibrated = await calibrationFor(db, definition, [input.baseline], input.calibration, input.baselineAsOf, 'diagnose: --calibrate');
  const current = await gatherSide(db, input.cohort, definition, input.asOf, calibrated);
  requirePredictions(current, 'cohort');
  const baseline = await gatherSide(db, input.baseline, definition, input.baselineAsOf, calibrated);
  requirePredictions(baseline, 'baseline');

  const drift = await computeDrift(db, {
    model_name: definition.model_name,
    reference: {
      model_version: baseline.cohort.model_version,
      environment: baseline.cohort.environment,
      start: baseline.cohort.start,
      end: baseline.cohort.end,
    },
    current: {
      model_version: current.cohort.model_version,
      environment: current.cohort.environment,
      start: current.cohort.start,
      end: current.cohort.end,
    },
    features: [],
  });
  const historyExpected = await historyExpectedPositives(db, current.latency.history_cohorts, definition);

  const availability = labelAvailabilityCheck(current, baseline);
  const checks: Check[] = [
    availability.check,
    expectedLabelsCheck(current, historyExpected),
    equalMaturityCheck(current, baseline),
    comparableSlicesCheck(current, baseline, availability.changed, definition.slices, input.metricDrop),
    labelLatencyCheck(current, baseline),
    sliceMixCheck(current, baseline, definition.slices),
    scoreDistributionCheck(drift.variables.find((v) => v.variable === 'score')!),
    estimatedPerformanceCheck(current, baseline, input.metricDrop),
  ];
  return {
    verdict: verdictOf(checks),
    cohort: current.cohort,
    baseline: baseline.cohort,
    as_of: toUtcIso(input.asOf),
    baseline_as_of: toUtcIso(input.baselineAsOf),
    label_definition: { name: definition.name, version: definition.version },
    checks,
  };
}
