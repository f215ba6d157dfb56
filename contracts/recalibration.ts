/**
 * The recalibration workflow's boundary: its input, state and messages, the activities' inputs
 * and results it passes along (ids and headline numbers, never rows), and how one starts.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ProbabilityQuality } from '../stats/probability-quality';
import type { ModelRef, ModelVersionRef } from './model';

/**
 * The workflow id of one recalibration request of a model version: the same request key (an
 * alert's id, a run's name) starts it once; the fit stores one calibrator version under it.
 */
export function recalibrationWorkflowId(model: ModelVersionRef, requestKey: string): string {
  return ['recalibration', model.name, model.version, requestKey].join('/');
}

export interface RecalibrationStartOptions {
  workflowId: string;
  staticSummary: string;
  args: [RecalibrationInput];
}

/** One spelling of how a recalibration starts, by hand or from an alert (schedules set their own ids). */
export function recalibrationStartOptions(input: RecalibrationInput, requestKey: string): RecalibrationStartOptions {
  return {
    workflowId: recalibrationWorkflowId(input.model, requestKey),
    staticSummary: recalibrationSummary(input),
    args: [input],
  };
}

/** What the Web UI's workflow list shows for a recalibration. */
export function recalibrationSummary(input: RecalibrationInput): string {
  const environment = input.model.environment ? ` (${input.model.environment})` : '';
  return (
    `recalibrate ${input.model.name} ${input.model.version}${environment} · ${input.labelDefinition} · ` +
    `${input.method ?? 'auto'}${input.requireApproval ? ' · approval required' : ''}`
  );
}

export const CALIBRATION_METHODS = ['platt', 'isotonic', 'auto'] as const;

export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

export interface TimeRange {
  from: string;
  to: string;
}

export interface Promotion {
  calibrator_id: number;
  promoted_by: string;
  note: string | null;
  promoted_at: string;
  /** False when it was already the active calibrator of its model version. */
  promoted_now: boolean;
}

/** Training and held-out ranges as the last whole periods finalized by the as-of moment. */
export interface RecentPeriods {
  /** The period as given (`P7D`), for people. */
  every: string;
  everyMs: number;
  trainPeriods: number;
  holdoutPeriods: number;
}

export interface PlanRecalibrationInput {
  model: ModelRef;
  /** NAME (the latest version) or NAME@VERSION. */
  labelDefinition: string;
  ranges?: { train: TimeRange; holdout: TimeRange } | undefined;
  recent?: RecentPeriods | undefined;
  asOf: string;
}

export interface RecalibrationPlan {
  /** NAME@VERSION, resolved. */
  labelDefinition: string;
  train: TimeRange;
  holdout: TimeRange;
}

export interface FitCalibratorInput {
  model: ModelRef;
  plan: RecalibrationPlan;
  method: CalibrationMethod;
  /** One calibrator version per key, however often the activity runs. */
  requestKey: string;
  /**
   * The labels known at this moment are read: the recalibration's as-of. Absent in histories
   * from before fits took an as-of: each range is then read as of its own end + window.
   */
  asOf?: string;
}

export interface CalibratorSummary {
  calibratorId: number;
  version: number;
  method: 'platt' | 'isotonic';
  trainRows: number;
  holdoutRows: number;
  before: ProbabilityQuality;
  after: ProbabilityQuality;
  improved: boolean;
}

export interface PromoteCalibratorInput {
  calibratorId: number;
  by: string;
  note: string | null;
  /** The request that decided it (the recalibration's workflow id): it promotes once. Absent in older histories. */
  requestKey?: string;
}

/** What starts a recalibration: by hand (`calibrate start`), a schedule's action, or an alert. */
export interface RecalibrationInput {
  /** The environment may be left out when started by hand: null, every environment. */
  model: ModelVersionRef & { environment?: string | null };
  /** NAME (the latest version, resolved once at planning) or NAME@VERSION. */
  labelDefinition: string;
  /** Explicit ranges; otherwise `recent` derives them from the as-of moment. */
  ranges?: { train: TimeRange; holdout: TimeRange };
  recent?: RecentPeriods;
  /** Default `auto`: Platt below 1,000 labeled training rows, isotonic from there. */
  method?: CalibrationMethod;
  /** Wait for an operator's approveCalibrator / rejectCalibrator signal before promoting. */
  requireApproval?: boolean;
  /** How long to wait for that signal; not promoted after it. Default 7 days. */
  approvalTimeoutMs?: number;
  /** The moment `recent` counts back from; default the schedule action's nominal time, else the workflow's start. */
  asOf?: string;
  /** Why it started, for the Web UI and the promotion log (`manual`, `schedule …`, `alert …`). */
  trigger?: string;
}

export const RECALIBRATION_PHASES = [
  'planning',
  'fitting',
  'awaiting_approval',
  'promoting',
  'promoted',
  'not_improved',
  'rejected',
  'approval_expired',
  'failed',
] as const;

export type RecalibrationPhase = (typeof RECALIBRATION_PHASES)[number];

export interface OperatorDecision {
  by: string;
  note?: string | null;
}

export interface RecalibrationState {
  phase: RecalibrationPhase;
  model: ModelRef;
  asOf: string;
  plan: RecalibrationPlan | null;
  calibrator: CalibratorSummary | null;
  /** While awaiting approval: when the wait ends without promoting. */
  approvalDeadline: string | null;
  decision: (OperatorDecision & { kind: 'approve' | 'reject' }) | null;
  promotion: Promotion | null;
  /** Why it ended where it did, in words. */
  reason: string | null;
}

export const getRecalibrationStateQuery = defineQuery<RecalibrationState>('getRecalibrationState');

export const approveCalibratorSignal = defineSignal<[OperatorDecision]>('approveCalibrator');

export const rejectCalibratorSignal = defineSignal<[OperatorDecision]>('rejectCalibrator');

export const DEFAULT_APPROVAL_TIMEOUT_MS = 7 * 86_400_000;

/**
 * An operator's decision on a recalibration that awaits approval (`calibrate approve|reject`).
 * An update, not a signal: refused, saying why, when the recalibration takes no decision or
 * already took one, so of two concurrent decisions the second is told it lost.
 */
export const decideCalibratorUpdate = defineUpdate<
  NonNullable<RecalibrationState['decision']>,
  [OperatorDecision & { kind: 'approve' | 'reject' }]
>('decideCalibrator');
