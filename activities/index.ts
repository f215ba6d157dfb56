import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import type { CohortPlan, EvaluateCheckpointInput, PlanCohortLifecycleInput, ReviseFinalSnapshotInput, SnapshotSummary } from '../contracts/lifecycle';
import { addDurations, CohortNotFoundError, latestSnapshot, loadCohort, registerCohort, storeSnapshot } from './evaluate/cohorts';
import { evaluateCohort } from './evaluate/evaluate-cohort';
import { projectToFinal } from './estimate/projection';
import { getLabelDefinitionForModel } from './evaluate/label-definitions';
import { createMonitoringActivities } from './temporal/monitoring';
import type { MonitoringDependencies } from './monitoring/apply-policy';
import { PolicyError } from './monitoring/policy';
import { LabelDefinitionError } from '../contracts/label-definition';
import { type CohortRecord } from '../contracts/cohort';
import { type GroupMetrics } from '../contracts/evaluation';

function summarize(snapshotId: number, checkpoint: string, revision: number, asOf: string, metrics: GroupMetrics): SnapshotSummary {
  return {
    snapshotId,
    checkpoint,
    revision,
    asOf,
    n: metrics.n,
    nLabeled: metrics.n_labeled,
    labelAvailability: metrics.label_availability,
    rocAuc: 'roc_auc' in metrics ? metrics.roc_auc : null,
    brier: 'brier' in metrics ? metrics.brier : null,
    recall: 'recall' in metrics ? metrics.recall : null,
  };
}

/** Errors that no retry can fix become non-retryable failures that keep their message. */
async function failPermanently<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LabelDefinitionError || error instanceof CohortNotFoundError || error instanceof PolicyError) {
      throw ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: true, cause: error });
    }
    throw error;
  }
}

/** Keeps a long SQL statement visible to Temporal so a dead worker is noticed by heartbeat timeout. */
async function withHeartbeat<T>(work: () => Promise<T>, everyMs = 2_000): Promise<T> {
  const timer = setInterval(() => heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Activities with the database and the label-free estimators injected by the worker (composition root). */
export function createActivities(db: Knex, monitoring: MonitoringDependencies) {
  return {
    ...createMonitoringActivities(db, monitoring),

    async planCohortLifecycle({ cohort }: PlanCohortLifecycleInput): Promise<CohortPlan> {
      return failPermanently(async () => {
        const definition = await getLabelDefinitionForModel(db, { name: cohort.label_definition_name, version: cohort.label_definition_version }, cohort.model_name);
        await registerCohort(db, cohort);
        const [finalAsOf, ...checkpointTimes] = await addDurations(db, cohort.end, [definition.window, ...definition.checkpoints]);
        const [lateLabelGraceEnd] = await addDurations(db, finalAsOf!, [definition.late_label_grace]);
        return {
          checkpoints: definition.checkpoints.map((name, index) => ({ name, asOf: checkpointTimes[index]! })),
          finalAsOf: finalAsOf!,
          lateLabelGraceEnd: lateLabelGraceEnd!,
        };
      });
    },

    async evaluateCheckpoint(input: EvaluateCheckpointInput): Promise<SnapshotSummary> {
      return failPermanently(() =>
        withHeartbeat(async () => {
          const { record, definition } = await loadCohort(db, input.cohortId);
          const document = await evaluateCohort(db, record, definition, input.asOf);
          // A provisional number carries where it is heading, so rules need not cry wolf while labels arrive.
          if (input.checkpoint !== 'final') {
            document.projected = await projectToFinal(db, { cohort: record, definition, checkpoint: input.checkpoint, asOf: input.asOf, document });
          }
          const stored = await storeSnapshot(db, record, input.checkpoint, input.revision, document);
          return summarize(stored.snapshot_id, input.checkpoint, input.revision, stored.as_of, stored.document.overall);
        }),
      );
    },

    /** Re-evaluates the final snapshot as of now; stores revision k+1 only if some label changed. */
    async reviseFinalSnapshot(input: ReviseFinalSnapshotInput): Promise<SnapshotSummary | null> {
      return failPermanently(() =>
        withHeartbeat(async () => {
          const { record, definition } = await loadCohort(db, input.cohortId);
          const latest = await latestSnapshot(db, input.cohortId, 'final');
          const document = await evaluateCohort(db, record, definition, input.asOf);
          if (latest && latest.label_fingerprint === document.label_fingerprint) return null;
          const revision = (latest?.revision ?? 0) + 1;
          const stored = await storeSnapshot(db, record, 'final', revision, document);
          return summarize(stored.snapshot_id, 'final', revision, stored.as_of, stored.document.overall);
        }),
      );
    },
  };
}

export type HindsightActivities = ReturnType<typeof createActivities>;
