import {
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  approveCalibratorSignal,
  decideCalibratorUpdate,
  DEFAULT_APPROVAL_TIMEOUT_MS,
  getRecalibrationStateQuery,
  rejectCalibratorSignal,
  type OperatorDecision,
  type RecalibrationInput,
  type RecalibrationPhase,
  type RecalibrationState,
} from '../contracts/recalibration';
import type { SearchAttributePair } from '@temporalio/common';
import type { CalibrationActivities } from '../activities/temporal/calibration';
import type {
  CalibratorSummary,
  RecalibrationPlan,
  RecentPeriods,
  CalibrationMethod,
  Promotion,
  TimeRange,
} from '../contracts/recalibration';
import { formatMoment, formatNumber } from './cohort-lifecycle';
import {
  ENVIRONMENT,
  LABEL_DEFINITION,
  LIFECYCLE_STAGE,
  MODEL_NAME,
  MODEL_VERSION,
  SCHEDULED_START_TIME,
} from '../contracts/search-attributes';

const { planRecalibration, promoteCalibrator } = proxyActivities<CalibrationActivities>({
  startToCloseTimeout: '12 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** The fit heartbeats every 2 s, so a lost worker is noticed within 10 s, not after the 30 minutes it may take. */
const { fitCalibrator } = proxyActivities<CalibrationActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Since this patch the fit reads the labels known at the recalibration's as-of (docs/calibration.md). */
export const FIT_AS_OF_PATCH = 'recalibration-fit-as-of';

/** Markdown for the Web UI's "current details". */
export function describeRecalibration(state: RecalibrationState): string {
  const lines = [
    `**${state.phase.replace(/_/g, ' ')}**` +
      `${state.approvalDeadline && state.phase === 'awaiting_approval' ? ` until ${state.approvalDeadline}` : ''}`,
  ];
  if (state.plan)
    lines.push(
      '',
      `${state.plan.labelDefinition} · train [${state.plan.train.from}, ${state.plan.train.to}) ` +
        `· held out [${state.plan.holdout.from}, ${state.plan.holdout.to})`,
    );
  const c = state.calibrator;
  if (c) {
    lines.push(
      '',
      `Calibrator ${c.calibratorId} (version ${c.version}, ${c.method}; ${c.trainRows} training rows, ${c.holdoutRows} held out)`,
      '',
      '| held out | Brier | log loss | ECE |',
      '|---|---|---|---|',
      `| before | ${formatNumber(c.before.brier)} | ${formatNumber(c.before.log_loss)} | ${formatNumber(c.before.ece)} |`,
      `| after | ${formatNumber(c.after.brier)} | ${formatNumber(c.after.log_loss)} | ${formatNumber(c.after.ece)} |`,
    );
  }
  // A closing line: the Web UI's details frame cuts the last line of its content short.
  lines.push('', state.reason ?? 'Promoted only when the held-out Brier score improves.');
  return lines.join('\n');
}

/**
 * Fits a calibrator for a model version on finalized cohorts and promotes it only when its
 * held-out Brier score is lower than the raw scores', after an operator's approval when the
 * input asks for one (docs/calibration.md). The workflow id names the request, so the fit
 * stores one calibrator version however often its activity runs.
 */
export async function recalibration(input: RecalibrationInput): Promise<RecalibrationState> {
  const info = workflowInfo();
  const nominal = info.typedSearchAttributes.get(SCHEDULED_START_TIME);
  const model = { name: input.model.name, version: input.model.version, environment: input.model.environment ?? null };
  const state: RecalibrationState = {
    phase: 'planning',
    model,
    asOf: input.asOf ?? (nominal ?? new Date(Date.now())).toISOString(),
    plan: null,
    calibrator: null,
    approvalDeadline: null,
    decision: null,
    promotion: null,
    reason: null,
  };
  const publish = (): void => setCurrentDetails(describeRecalibration(state));
  const enter = (phase: RecalibrationPhase, extra: SearchAttributePair[] = []): void => {
    upsertSearchAttributes([...extra, { key: LIFECYCLE_STAGE, value: phase }]);
    state.phase = phase;
    publish();
  };
  const finish = (phase: RecalibrationPhase, reason: string): RecalibrationState => {
    state.reason = reason;
    enter(phase);
    return state;
  };

  setHandler(getRecalibrationStateQuery, () => state);
  // Only a recalibration that asks for approval takes a decision; the first one counts, and
  // one that comes after the outcome is settled changes nothing.
  const decide = (kind: 'approve' | 'reject') => (decision: OperatorDecision) => {
    if (
      input.requireApproval &&
      state.decision === null &&
      !['promoted', 'not_improved', 'rejected', 'approval_expired', 'failed'].includes(state.phase)
    ) {
      state.decision = { kind, by: decision.by, note: decision.note ?? null };
    }
  };
  setHandler(approveCalibratorSignal, decide('approve'));
  setHandler(rejectCalibratorSignal, decide('reject'));
  setHandler(
    decideCalibratorUpdate,
    (decision) => {
      state.decision = { kind: decision.kind, by: decision.by, note: decision.note ?? null };
      return state.decision;
    },
    {
      validator: (decision) => {
        if (!input.requireApproval) throw new Error(`${info.workflowId} does not wait for approval: it promotes on its own`);
        if (state.decision !== null) {
          throw new Error(`${info.workflowId} was ${state.decision.kind}d already, by ${state.decision.by}; the first decision counts`);
        }
        if (['promoted', 'not_improved', 'rejected', 'approval_expired', 'failed'].includes(state.phase)) {
          throw new Error(`${info.workflowId} is ${state.phase.replace(/_/g, ' ')}: there is nothing left to decide`);
        }
        if (decision.kind !== 'approve' && decision.kind !== 'reject') throw new Error(`unknown decision ${String(decision.kind)}`);
      },
    },
  );

  const attributes: SearchAttributePair[] = [
    { key: MODEL_NAME, value: model.name },
    { key: MODEL_VERSION, value: model.version },
    ...(model.environment === null ? [] : [{ key: ENVIRONMENT, value: model.environment }]),
  ];
  enter('planning', attributes);
  let plan: RecalibrationPlan;
  try {
    plan = await planRecalibration.executeWithOptions(
      { summary: `plan the training and held-out ranges as of ${formatMoment(state.asOf)}` },
      [{ model, labelDefinition: input.labelDefinition, ranges: input.ranges, recent: input.recent, asOf: state.asOf }],
    );
  } catch (error) {
    // A cancelled recalibration ends cancelled, not failed.
    if (isCancellation(error)) throw error;
    return finish('failed', `planning failed: ${failureMessage(error)}`);
  }
  state.plan = plan;
  enter('fitting', [{ key: LABEL_DEFINITION, value: plan.labelDefinition }]);
  const method = input.method ?? 'auto';
  // The fit reads the labels known at the run's as-of, late ones included; histories from
  // before that read each range as of its own end + window, and replay that way.
  const asOf = patched(FIT_AS_OF_PATCH) ? { asOf: state.asOf } : {};
  let calibrator: CalibratorSummary;
  try {
    calibrator = await fitCalibrator.executeWithOptions(
      {
        summary:
          `fit ${method} on [${formatMoment(plan.train.from)}, ${formatMoment(plan.train.to)}), ` +
          `judge on [${formatMoment(plan.holdout.from)}, ${formatMoment(plan.holdout.to)})`,
      },
      [{ model, plan, method, requestKey: info.workflowId, ...asOf }],
    );
  } catch (error) {
    if (isCancellation(error)) throw error;
    return finish('failed', `fitting failed: ${failureMessage(error)}`);
  }
  state.calibrator = calibrator;
  const brier = `held-out Brier ${formatNumber(calibrator.before.brier)} → ${formatNumber(calibrator.after.brier)}`;
  if (!calibrator.improved) return finish('not_improved', `Not promoted: the ${brier} did not improve.`);

  if (input.requireApproval) {
    const timeoutMs = input.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    state.approvalDeadline = new Date(Date.now() + timeoutMs).toISOString();
    enter('awaiting_approval');
    const decided = await condition(() => state.decision !== null, timeoutMs, {
      summary: `wait for an operator's approval of calibrator ${calibrator.calibratorId} (until ${formatMoment(state.approvalDeadline)})`,
    });
    if (!decided) return finish('approval_expired', `Not promoted: no approval by ${state.approvalDeadline} (${brier}).`);
    if (state.decision!.kind === 'reject')
      return finish(
        'rejected',
        `Not promoted: rejected by ${state.decision!.by}${state.decision!.note ? ` (${state.decision!.note})` : ''}.`,
      );
  }

  enter('promoting');
  const by = state.decision ? `${state.decision.by} (approved in workflow ${info.workflowId})` : `workflow ${info.workflowId}`;
  state.promotion = await promoteCalibrator.executeWithOptions({ summary: `promote calibrator ${calibrator.calibratorId}` }, [
    { calibratorId: calibrator.calibratorId, by, note: state.decision?.note ?? input.trigger ?? null, requestKey: info.workflowId },
  ]);
  return finish('promoted', `Promoted: the ${brier} improved.`);
}

/** The innermost message of an activity failure (the activity's own words). */
function failureMessage(error: unknown): string {
  let current = error as { message?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause as typeof current;
  return current?.message ?? String(error);
}
