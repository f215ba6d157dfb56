import type { Sinks } from '@temporalio/workflow';
import type { SnapshotSummary } from '../activities';

/**
 * What a cohort tells the process that runs its worker, outside the history (never on replay):
 * `hindsight dev` prints a line for each. Workers without a listener ignore them.
 */
export interface LifecycleSinks extends Sinks {
  lifecycle: {
    snapshotStored(cohortId: string, snapshot: SnapshotSummary): void;
    cohortClosed(cohortId: string, snapshots: number): void;
  };
}
