/**
 * The cohort lifecycle's boundary: what starts it, what its activities take and return, what
 * an operator queries, signals and updates, and what it tells its worker through sinks.
 */
import { defineQuery, defineSignal, defineUpdate, type Sinks } from '@temporalio/workflow';
import type { CohortRecord } from './cohort';
import type { AlertSummary } from './monitoring';

export interface CohortLifecycleInput {
  cohort: CohortRecord;
  /** How many times to look for late labels during the grace period after finalization. */
  lateLabelChecks?: number;
}

export const COHORT_PHASES = [
  'planning',
  'waiting_for_checkpoint',
  'evaluating',
  'waiting_for_final',
  'late_label_grace',
  'closed',
] as const;

export type CohortPhase = (typeof COHORT_PHASES)[number];

export interface CohortStatus {
  cohortId: string;
  phase: CohortPhase;
  /** When the workflow next wakes on its own (UTC ISO), if it is waiting. */
  nextWakeAt: string | null;
  plan: CohortPlan | null;
  snapshots: SnapshotSummary[];
  /** The cohort's alerts after the last judgement of its policies (absent before monitoring existed). */
  alerts?: AlertSummary[];
  /** Its alert notifications still pending delivery after the last judgement (their delivery workflows send them). */
  pendingNotifications?: number;
  /** Of its alert notifications, how many were refused by their receiver or expired (as of its last judgement). */
  undeliverableNotifications?: number;
}

export const getStatusQuery = defineQuery<CohortStatus>('getStatus');

/** Asks a cohort in its late-label grace period to look for late labels now. */
export const recheckLateLabelsSignal = defineSignal('recheckLateLabels');

/** Stores and returns a snapshot as of now (checkpoint `adhoc`, its own revisions); refused once closed. */
export const evaluateNowUpdate = defineUpdate<SnapshotSummary>('evaluateNow');

export interface PlanCohortLifecycleInput {
  cohort: CohortRecord;
}

export interface CohortPlan {
  checkpoints: Array<{ name: string; asOf: string }>;
  finalAsOf: string;
  lateLabelGraceEnd: string;
}

export interface EvaluateCheckpointInput {
  cohortId: string;
  checkpoint: string;
  asOf: string;
  revision: number;
}

export interface ReviseFinalSnapshotInput {
  cohortId: string;
  asOf: string;
}

/** What a workflow keeps of an evaluation: ids and a few headline numbers, never rows. */
export interface SnapshotSummary {
  snapshotId: number;
  checkpoint: string;
  revision: number;
  asOf: string;
  n: number;
  nLabeled: number;
  labelAvailability: number | null;
  rocAuc: number | null;
  brier: number | null;
  /** Absent from snapshots that cohorts started before it was added carry in their histories. */
  recall?: number | null;
}

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
