/** What a cohort schedule's every action carries, and the period it opens. */
import type { CohortSelector } from './cohort';
import { modelColumns, type ModelRef } from './model';
import type { LabelDefinitionTerms } from './cohort-start-options';

/** The shortest period a schedule may repeat at; `--allow-short-periods` lowers it for tests and demos. */
export const MIN_SCHEDULE_PERIOD_MS = 60_000;
/** The longest period a schedule may have: ten years of days. */
export const MAX_SCHEDULE_PERIOD_MS = 3653 * 86_400_000;
/** The most periods `schedule backfill` opens without `--force`. */
export const MAX_BACKFILL_PERIODS = 1000;

/** What a schedule's every action carries: the model, the definition and the period length. */
export interface ScheduledCohortInput {
  scheduleId: string;
  model: ModelRef;
  labelDefinition: LabelDefinitionTerms;
  /** The period as given (`P1D`), for people. */
  every: string;
  /** The same in milliseconds: an action with nominal time t opens the cohort `[t - every, t)`. */
  everyMs: number;
  /** Only when the server set no `TemporalScheduledStartTime` (a manual start for tests or repair). */
  nominalTime?: string;
  lateLabelChecks?: number;
}

export interface ScheduledCohortResult {
  cohortId: string;
  start: string;
  end: string;
  /** False when the period's cohort already existed (a retried, late or repeated action). */
  opened: boolean;
}

/** The cohort that an action with nominal time `nominalMs` opens: the period `[t − every, t)`. */
export function periodCohort(model: ModelRef, everyMs: number, nominalMs: number): CohortSelector {
  return { ...modelColumns(model), start: new Date(nominalMs - everyMs).toISOString(), end: new Date(nominalMs).toISOString() };
}
