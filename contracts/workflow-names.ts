/**
 * Workflow type names, and the signature each is started with, for code that starts or signals
 * a workflow without importing its function: control/ and the activities' Temporal adapters
 * (the workflow bundle stays on its own side of the line). The names are the exported function
 * names in workflows/, which the recorded histories carry: never rename one.
 */
import type { AlertDeliveryInput } from './delivery';
import type { CohortLifecycleInput, CohortStatus } from './lifecycle';
import type { FeedWatchInput } from './monitoring';
import type { RecalibrationInput, RecalibrationState } from './recalibration';
import type { RetrainingRequestsInput } from './retraining';
import type { ScheduledCohortInput, ScheduledCohortResult } from './schedules';

export const COHORT_LIFECYCLE_WORKFLOW = 'cohortLifecycle';
export const SCHEDULED_COHORT_WORKFLOW = 'scheduledCohort';
export const FEED_WATCH_WORKFLOW = 'feedWatch';
export const RETRAINING_REQUESTS_WORKFLOW = 'retrainingRequests';
export const RECALIBRATION_WORKFLOW = 'recalibration';
export const ALERT_DELIVERY_WORKFLOW = 'alertDelivery';

export type CohortLifecycleWorkflow = (input: CohortLifecycleInput) => Promise<CohortStatus>;
export type ScheduledCohortWorkflow = (input: ScheduledCohortInput) => Promise<ScheduledCohortResult>;
export type FeedWatchWorkflow = (input: FeedWatchInput) => Promise<{ stalled: string[] }>;
export type RetrainingRequestsWorkflow = (input: RetrainingRequestsInput) => Promise<void>;
export type RecalibrationWorkflow = (input: RecalibrationInput) => Promise<RecalibrationState>;
export type AlertDeliveryWorkflow = (input: AlertDeliveryInput) => Promise<void>;
