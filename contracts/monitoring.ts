/** What workflows keep of monitoring: small, serializable, no rows. */

/** A group as alerts name it: `overall`, or `dimension=value` for a slice. */
export const sliceLabel = (dimension: string, value: string | null): string =>
  dimension === '' ? 'overall' : `${dimension}=${value ?? 'null'}`;

/** `error`: the rule could not be judged; the alert's evidence says why. */
export type AlertState = 'firing' | 'resolved' | 'retracted' | 'error';

export interface AlertSummary {
  alertId: number;
  rule: string;
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  state: AlertState;
  /** `overall`, or `dimension=value` for a slice. */
  slice: string;
  checkpoint: string | null;
  observed: number | null;
  baseline: number | null;
  /** The diagnosis verdict a quality or label-availability alert carries (quality, labeling, both, none). */
  verdict: string | null;
}

/** What a retraining pipeline is told: which cohort, which snapshot, which alerts, and why. */
export interface RetrainingEvidence {
  model: string;
  modelVersion: string;
  cohortId: string;
  snapshotId: number | null;
  checkpoint: string | null;
  policy: string;
  alerts: Array<{ alertId: number; rule: string; slice: string; observed: number | null; baseline: number | null }>;
  /** The cohort's diagnosis verdict; `labeling` alone skips retraining unless the policy says otherwise. */
  verdict: string | null;
  retrainOnLabeling: boolean;
  quietPeriod: string;
  /** The quiet period in milliseconds (a month counts 28 days), for the workflow's timer. */
  quietPeriodMs: number;
  hook: { webhook: RetrainingWebhookRef } | { workflow: { type: string; task_queue: string } };
  /** Cohort period of a schedule made for the new version when the old one has none. */
  every: string;
  labelDefinition: string;
}

/**
 * The retraining webhook as evidence names it: where it goes (`receiver`: scheme, host and path,
 * or `$VARIABLE`), never its secrets; the worker reads its URL and headers from the policy and
 * its own environment when it calls. Evidence recorded before carries `url` and `headers`, and
 * is sent with them.
 */
export interface RetrainingWebhookRef {
  receiver?: string;
  url?: string;
  headers?: Record<string, string>;
}

/** A calibration alert's request for the recalibration workflow. */
export interface RecalibrationRequest {
  model: string;
  modelVersion: string;
  cohortId: string;
  labelDefinition: string;
  requireApproval: boolean;
  method: 'platt' | 'isotonic' | 'auto';
  every: string;
  everyMs: number;
  trainPeriods: number;
  holdoutPeriods: number;
  rules: string[];
  /** The first alert that asked: names the request, so a retry starts the workflow once. */
  alertId: number;
}

export interface MonitoringOutcome {
  /** `name@version` of each policy judged; empty when the model has none. */
  policies: string[];
  /** The cohort's alerts after this judgement, in every state (the first 50; `alertCount` says how many in all). */
  alerts: AlertSummary[];
  /** How many alerts the cohort has (absent from judgements recorded before it was added). */
  alertCount?: number;
  /** The cohort's alert notifications still waiting in the outbox. */
  notifications: number;
  /** The destinations those wait for: their delivery workflows are woken (absent from older judgements). */
  destinations?: string[];
  /** The cohort's alert notifications its receivers refused or that expired, as of this judgement (absent from older ones). */
  undeliverable?: number;
  retraining: RetrainingEvidence | null;
  recalibration: RecalibrationRequest | null;
}

export interface FeedWatchInput {
  /** The policy whose `stalled_feed` rules are checked. */
  policy: string;
}

export const feedWatchScheduleId = (policy: string): string => `feed-watch/${policy}`;
