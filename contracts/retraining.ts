/**
 * The retraining workflow's boundary (one per model, id `retraining-<model>`): its input and
 * state, the signals cohort workflows and `retraining complete` send, the query that reads it.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RetrainingEvidence } from './monitoring';

/**
 * One workflow per model (id `retraining-<model>`), signal-with-started by cohort workflows
 * whose alerts ask for retraining. It debounces: the first request calls the retraining hook
 * at once; requests within the quiet period after it, or while the pipeline is still
 * retraining, are merged into that request's evidence and call nothing. A request whose
 * diagnosis blames the labels alone is skipped unless the policy says otherwise: retraining
 * on a broken label feed teaches the model the outage. `retrainingCompleted` ends the request
 * and makes the schedule of the new version's cohorts. The history stays bounded: the
 * workflow continues as new when the server suggests it, carrying its state.
 */

export interface RetrainingCompletion {
  newVersion: string;
}

export interface RetrainingRequestRecord {
  requestId: string;
  requestedAt: string;
  modelVersion: string;
  /** Cohorts whose evidence this request carries (the first called the hook). */
  cohorts: string[];
  alerts: number;
  verdicts: string[];
  /** `hook_failed`: the retraining hook refused the request or never answered; `hookError` says why. */
  status: 'retraining' | 'completed' | 'hook_failed';
  hookError?: string | null;
  /**
   * A hook that failed (no answer, 5xx) rather than refused is called again, under the same
   * request id, at `at`: the wait doubles from 5 minutes up to 6 hours, for at most 24 hours.
   */
  hookRetry?: { at: string; attempts: number; evidence: RetrainingEvidence } | null;
  /** What the new version's schedule is made of when the old version has none. */
  labelDefinition: string;
  every: string;
  newVersion: string | null;
  scheduleId: string | null;
}

export interface RetrainingState {
  model: string;
  /** Requests made so far, newest last; the ten most recent are kept across continue-as-new. */
  requests: RetrainingRequestRecord[];
  /** No new request (hook call) before this moment. */
  quietUntil: string | null;
  skipped: Array<{ cohortId: string; reason: string }>;
  /** Every request number handed out, so request ids stay unique across runs. */
  sequence: number;
}

export interface RetrainingRequestsInput {
  model: string;
  state?: RetrainingState;
}

export const retrainingRequestedSignal = defineSignal<[RetrainingEvidence]>('retrainingRequested');

export const retrainingCompletedSignal = defineSignal<[RetrainingCompletion]>('retrainingCompleted');

export const getRetrainingStateQuery = defineQuery<RetrainingState>('getRetrainingState');

/** Runs started before this patch fail when the hook refuses; every new one parks the request as `hook_failed`. */
export const HOOK_PARKED_PATCH = 'retraining-hook-parked';

/**
 * The pipeline reports the new version (`retraining complete`). An update, not a signal: it is
 * refused, saying why, when no request waits for completion or another completion is being
 * applied, so the second of two concurrent calls is told instead of dropped.
 */
export const completeRetrainingUpdate = defineUpdate<RetrainingRequestRecord, [RetrainingCompletion]>('completeRetraining');

export const retrainingWorkflowId = (model: string): string => `retraining-${model}`;
