/**
 * The cohort lifecycle's activities (workflows/cohort-lifecycle.ts): plan a cohort, evaluate a
 * checkpoint, revise the final snapshot. They hand the workflow ids and headline numbers,
 * never rows; evaluations heartbeat so a lost worker is noticed in seconds.
 */
import type { Knex } from 'knex';
import type { GroupMetrics } from '../../contracts/evaluation';
import { LabelDefinitionError } from '../../contracts/label-definition';
import type {
  CohortPlan,
  EvaluateCheckpointInput,
  PlanCohortLifecycleInput,
  ReviseFinalSnapshotInput,
  SnapshotSummary,
} from '../../contracts/lifecycle';
import { projectToFinal } from '../estimate/projection';
import {
  addDurations,
  CohortNotFoundError,
  latestSnapshot,
  revisionAsOf,
  loadCohort,
  registerCohort,
  storeSnapshot,
} from '../evaluate/cohorts';
import { evaluateCohort } from '../evaluate/evaluate-cohort';
import { getLabelDefinitionForModel } from '../evaluate/label-definitions';
import { PolicyError } from '../monitoring/policy';
import { countEvaluation } from '../metrics/process-counters';
import { failPermanently as failOn } from './failures';
import { withHeartbeat } from './heartbeat';

/** Errors that no retry can fix become non-retryable failures that keep their message. */
const failPermanently = <T>(work: () => Promise<T>): Promise<T> => failOn([LabelDefinitionError, CohortNotFoundError, PolicyError], work);

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

/** The lifecycle activities, with the database injected by the worker. */
export function createLifecycleActivities(db: Knex) {
  return {
    async planCohortLifecycle({ cohort }: PlanCohortLifecycleInput): Promise<CohortPlan> {
      return failPermanently(async () => {
        const definition = await getLabelDefinitionForModel(
          db,
          { name: cohort.label_definition_name, version: cohort.label_definition_version },
          cohort.model_name,
        );
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
          const stored = await countEvaluation(
            () => 'stored',
            async () => {
              // The final snapshot carries its label lag (GET /metrics, the dashboards).
              const document = await evaluateCohort(db, record, definition, input.asOf, { labelLag: input.checkpoint === 'final' });
              // A provisional number carries where it is heading, so rules need not cry wolf while labels arrive.
              if (input.checkpoint !== 'final') {
                document.projected = await projectToFinal(db, {
                  cohort: record,
                  definition,
                  checkpoint: input.checkpoint,
                  asOf: input.asOf,
                  document,
                });
              }
              return storeSnapshot(db, record, input.checkpoint, input.revision, document);
            },
          );
          return summarize(stored.snapshot_id, input.checkpoint, input.revision, stored.as_of, stored.document.overall);
        }),
      );
    },

    /** Re-evaluates the final snapshot as of now; stores revision k+1 only if some label changed. */
    /**
     * Keyed by the workflow's as-of: a retry after this as-of's revision was stored (a lost
     * worker) returns that revision again, so it is judged, instead of finding nothing new.
     */
    async reviseFinalSnapshot(input: ReviseFinalSnapshotInput): Promise<SnapshotSummary | null> {
      return failPermanently(() =>
        withHeartbeat(async () => {
          const { record, definition } = await loadCohort(db, input.cohortId);
          const already = await revisionAsOf(db, input.cohortId, input.asOf);
          if (already) return summarize(already.snapshot_id, 'final', already.revision, already.as_of, already.document.overall);
          return countEvaluation(
            (summary) => (summary === null ? 'unchanged' : 'stored'),
            async () => {
              const latest = await latestSnapshot(db, input.cohortId, 'final');
              const document = await evaluateCohort(db, record, definition, input.asOf, { labelLag: true });
              if (latest && latest.label_fingerprint === document.label_fingerprint) return null;
              const revision = (latest?.revision ?? 0) + 1;
              const stored = await storeSnapshot(db, record, 'final', revision, document);
              return summarize(stored.snapshot_id, 'final', revision, stored.as_of, stored.document.overall);
            },
          );
        }),
      );
    },
  };
}
