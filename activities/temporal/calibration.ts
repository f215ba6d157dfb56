/**
 * The recalibration workflow's activities (workflows/recalibration.ts), with the database
 * injected by the worker. What they hand the workflow is ids and headline numbers, never
 * rows or an isotonic calibrator's thresholds: those stay in `calibrators`.
 */
import type { Knex } from 'knex';
import type {
  CalibratorSummary,
  FitCalibratorInput,
  PlanRecalibrationInput,
  PromoteCalibratorInput,
  RecalibrationPlan,
} from '../../contracts/recalibration';
import { CalibrationError, fitCalibrator, promoteCalibrator } from '../calibrate/calibrators';
import { getLabelDefinitionForModel } from '../evaluate/label-definitions';
import { RangeNotFinalError } from '../evaluate/labeled-scores';
import type { ProbabilityQuality } from '../../stats/probability-quality';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { failPermanently as failOn } from './failures';
import { withHeartbeat } from './heartbeat';
import { LabelDefinitionError, parseLabelDefinitionRef } from '../../contracts/label-definition';
import { type CalibrationMethod, type Promotion, type TimeRange } from '../../contracts/recalibration';

const DAY_MS = 86_400_000;
/** 1970-01-01 was a Thursday: whole weeks begin on Mondays, as ISO weeks and cohort schedules do. */
const FIRST_MONDAY_MS = 4 * DAY_MS;

/** The latest period boundary at or before `ms`: multiples of the period since the epoch, weeks from Monday. */
function periodBoundaryAtOrBefore(ms: number, everyMs: number): number {
  const offset = everyMs % (7 * DAY_MS) === 0 ? FIRST_MONDAY_MS % everyMs : 0;
  return Math.floor((ms - offset) / everyMs) * everyMs + offset;
}

/** Errors no retry can fix end the activity at once, keeping their message. */
const failPermanently = <T>(work: () => Promise<T>): Promise<T> =>
  failOn([CalibrationError, LabelDefinitionError, RangeNotFinalError], work);

export function createCalibrationActivities(db: Knex) {
  return {
    /**
     * Resolves the definition and the ranges. With `recent`, the held-out range is the last
     * `holdoutPeriods` whole periods whose labels are final by as-of (they end by as-of − window)
     * and the training range the `trainPeriods` before them.
     */
    async planRecalibration(input: PlanRecalibrationInput): Promise<RecalibrationPlan> {
      return failPermanently(async () => {
        const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(input.labelDefinition), input.model.name);
        const labelDefinition = `${definition.name}@${definition.version}`;
        if (input.ranges) {
          const range = (r: TimeRange) => ({ from: toUtcIso(r.from), to: toUtcIso(r.to) });
          return { labelDefinition, train: range(input.ranges.train), holdout: range(input.ranges.holdout) };
        }
        if (!input.recent) throw new CalibrationError('a recalibration needs its ranges or the recent periods to derive them from');
        const { everyMs, trainPeriods, holdoutPeriods } = input.recent;
        const { rows } = await db.raw('select (:as_of::timestamptz - :window::interval) as finalized_by', {
          as_of: toUtcIso(input.asOf),
          window: definition.window,
        });
        const end = periodBoundaryAtOrBefore((rows[0].finalized_by as Date).getTime(), everyMs);
        const holdoutFrom = end - holdoutPeriods * everyMs;
        const at = (ms: number) => new Date(ms).toISOString();
        return {
          labelDefinition,
          train: { from: at(holdoutFrom - trainPeriods * everyMs), to: at(holdoutFrom) },
          holdout: { from: at(holdoutFrom), to: at(end) },
        };
      });
    },

    async fitCalibrator(input: FitCalibratorInput): Promise<CalibratorSummary> {
      return failPermanently(async () => {
        const { calibrator } = await withHeartbeat(() =>
          fitCalibrator(db, {
            model_name: input.model.name,
            model_version: input.model.version,
            environment: input.model.environment,
            label_definition: parseLabelDefinitionRef(input.plan.labelDefinition),
            train: input.plan.train,
            holdout: input.plan.holdout,
            as_of: input.asOf ?? null,
            method: input.method,
            request_key: input.requestKey,
          }),
        );
        return {
          calibratorId: calibrator.calibrator_id,
          version: calibrator.version,
          method: calibrator.method,
          trainRows: calibrator.train.rows,
          holdoutRows: calibrator.holdout.rows,
          before: calibrator.before,
          after: calibrator.after,
          improved: calibrator.improved,
        };
      });
    },

    async promoteCalibrator(input: PromoteCalibratorInput): Promise<Promotion> {
      return failPermanently(() => promoteCalibrator(db, input.calibratorId, input.by, input.note, input.requestKey ?? null));
    },
  };
}

export type CalibrationActivities = ReturnType<typeof createCalibrationActivities>;
