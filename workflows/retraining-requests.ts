import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { HindsightActivities } from '../activities';
import type { RetrainingEvidence } from '../contracts/monitoring';
import {
  completeRetrainingUpdate,
  getRetrainingStateQuery,
  HOOK_PARKED_PATCH,
  retrainingCompletedSignal,
  retrainingRequestedSignal,
  type RetrainingCompletion,
  type RetrainingRequestRecord,
  type RetrainingRequestsInput,
  type RetrainingState,
} from '../contracts/retraining';

const { scheduleRetrainedVersion } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '12 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One attempt takes at most the receiver's 10 s; a receiver that fails is tried five times
 * over about half a minute before the request is parked (`hook_failed`), so the workflow never
 * waits long on a receiver and never fails because of one.
 */
const { callRetrainingWebhook } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '12 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '16 seconds', maximumAttempts: 5 },
});

const KEPT_REQUESTS = 10;
const HOOK_RETRY_FIRST_MS = 5 * 60_000;
const HOOK_RETRY_MAX_MS = 6 * 3_600_000;
const HOOK_RETRY_FOR_MS = 24 * 3_600_000;
const KEPT_SKIPS = 20;

export async function retrainingRequests(input: RetrainingRequestsInput): Promise<void> {
  const state: RetrainingState = input.state ?? { model: input.model, requests: [], quietUntil: null, skipped: [], sequence: 0 };
  const inbox: RetrainingEvidence[] = [];
  const completions: RetrainingCompletion[] = [];

  setHandler(retrainingRequestedSignal, (evidence) => void inbox.push(evidence));
  setHandler(retrainingCompletedSignal, (completion) => void completions.push(completion));
  setHandler(getRetrainingStateQuery, () => state);
  const publish = (): void => setCurrentDetails(describeRetraining(state));
  publish();

  const parkRefusals = patched(HOOK_PARKED_PATCH);
  const open = (): RetrainingRequestRecord | undefined => [...state.requests].reverse().find((r) => r.status === 'retraining');
  const applied: RetrainingCompletion[] = [];
  let completing: string | null = null;
  setHandler(
    completeRetrainingUpdate,
    async (completion) => {
      completing = completion.newVersion;
      const request = open()!;
      completions.push(completion);
      await condition(() => applied.includes(completion));
      completing = null;
      return request;
    },
    {
      validator: (completion) => {
        if (completing !== null)
          throw new Error(`version ${completing} of ${state.model} is being completed already; see retraining status`);
        if (!open()) throw new Error(`model ${state.model} has no retraining request waiting for completion`);
        if (!completion.newVersion) throw new Error('the new version is empty');
      },
    },
  );

  /** The earliest moment a failed hook is due to be called again (none: no timer). */
  const nextRetryMs = (): number | undefined => {
    const due = state.requests.filter((r) => r.hookRetry).map((r) => Date.parse(r.hookRetry!.at));
    return due.length === 0 ? undefined : Math.max(0, Math.min(...due) - Date.now());
  };
  /** Calls the hook of a new or retried request; a failure parks it, to be retried when it was not refused. */
  const attemptHook = async (request: RetrainingRequestRecord, evidence: RetrainingEvidence, attempt: number): Promise<void> => {
    try {
      await callHook(request.requestId, evidence);
      request.status = 'retraining';
      request.hookError = null;
      request.hookRetry = null;
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      request.status = 'hook_failed';
      request.hookError = error.cause?.message ?? error.message;
      const refused = error.cause instanceof ApplicationFailure && error.cause.type === 'WebhookRefused';
      const waitMs = Math.min(HOOK_RETRY_MAX_MS, HOOK_RETRY_FIRST_MS * 2 ** (attempt - 1));
      const giveUp = Date.now() - Date.parse(request.requestedAt) + waitMs > HOOK_RETRY_FOR_MS;
      request.hookRetry = refused || giveUp ? null : { at: new Date(Date.now() + waitMs).toISOString(), attempts: attempt, evidence };
    }
  };

  for (;;) {
    const wake = () => inbox.length > 0 || completions.length > 0 || workflowInfo().continueAsNewSuggested;
    const retryIn = nextRetryMs();
    if (retryIn === undefined) await condition(wake);
    else await condition(wake, retryIn);
    for (const request of state.requests) {
      if (request.hookRetry && Date.parse(request.hookRetry.at) <= Date.now()) {
        const { evidence, attempts } = request.hookRetry;
        await attemptHook(request, evidence, attempts + 1);
      }
    }
    while (inbox.length > 0) {
      const evidence = inbox.shift()!;
      const seen =
        state.requests.some((r) => r.cohorts.includes(evidence.cohortId)) || state.skipped.some((s) => s.cohortId === evidence.cohortId);
      if (seen) continue;
      if (evidence.verdict === 'labeling' && !evidence.retrainOnLabeling) {
        state.skipped = [...state.skipped, { cohortId: evidence.cohortId, reason: 'the diagnosis blames the labels alone' }].slice(
          -KEPT_SKIPS,
        );
        continue;
      }
      const current = open();
      const last = state.requests[state.requests.length - 1];
      const quiet = state.quietUntil !== null && Date.now() < Date.parse(state.quietUntil);
      if (last && (current || quiet)) {
        merge(last, evidence);
        continue;
      }
      state.sequence += 1;
      const requestId = `${workflowInfo().workflowId}-${state.sequence}`;
      const request: RetrainingRequestRecord = {
        requestId,
        requestedAt: new Date(Date.now()).toISOString(),
        modelVersion: evidence.modelVersion,
        cohorts: [],
        alerts: 0,
        verdicts: [],
        status: 'retraining',
        labelDefinition: evidence.labelDefinition,
        every: evidence.every,
        newVersion: null,
        scheduleId: null,
      };
      merge(request, evidence);
      state.requests = [...state.requests, request].slice(-KEPT_REQUESTS);
      state.quietUntil = new Date(Date.now() + evidence.quietPeriodMs).toISOString();
      if (parkRefusals) {
        await attemptHook(request, evidence, 1);
      } else {
        await callHook(requestId, evidence);
      }
    }
    while (completions.length > 0) {
      const completion = completions.shift()!;
      const request = open();
      if (!request) {
        applied.push(completion);
        continue;
      }
      const scheduled = await scheduleRetrainedVersion.executeWithOptions(
        { summary: `schedule the cohorts of ${state.model} ${completion.newVersion}` },
        [
          {
            model: state.model,
            fromVersion: request.modelVersion,
            newVersion: completion.newVersion,
            labelDefinition: request.labelDefinition,
            every: request.every,
          },
        ],
      );
      request.status = 'completed';
      request.newVersion = completion.newVersion;
      request.scheduleId = scheduled.scheduleIds.join(', ') || null;
      applied.push(completion);
    }
    publish();
    if (workflowInfo().continueAsNewSuggested && inbox.length === 0 && completions.length === 0) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof retrainingRequests>({ model: state.model, state });
    }
  }

  async function callHook(requestId: string, evidence: RetrainingEvidence): Promise<void> {
    const body = { request_id: requestId, model: state.model, model_version: evidence.modelVersion, evidence };
    if ('webhook' in evidence.hook) {
      // The activity reads the hook's URL and headers (maybe secrets) from the policy, so they stay
      // out of this history; evidence recorded before they did carries them, and passes them on.
      const { url, headers } = evidence.hook.webhook;
      await callRetrainingWebhook.executeWithOptions({ summary: `call the retraining webhook (${requestId})` }, [
        url === undefined
          ? { policy: evidence.policy, idempotencyKey: requestId, body }
          : { url, headers: headers ?? {}, idempotencyKey: requestId, body },
      ]);
    } else {
      // The pipeline's own worker runs it; abandoned, so it outlives this run's continue-as-new.
      await startChild(evidence.hook.workflow.type, {
        workflowId: requestId,
        taskQueue: evidence.hook.workflow.task_queue,
        args: [body],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `retrain ${state.model} (requested by ${evidence.cohortId})`,
      });
    }
  }
}

function merge(request: RetrainingRequestRecord, evidence: RetrainingEvidence): void {
  if (!request.cohorts.includes(evidence.cohortId)) request.cohorts.push(evidence.cohortId);
  request.alerts += evidence.alerts.length;
  if (evidence.verdict && !request.verdicts.includes(evidence.verdict)) request.verdicts.push(evidence.verdict);
}

/** Markdown for the Web UI's current details. */
export function describeRetraining(state: RetrainingState): string {
  const lines = [`**Retraining requests for ${state.model}**`];
  if (state.quietUntil) lines.push('', `Quiet until ${state.quietUntil}: new evidence merges into the last request.`);
  if (state.requests.length > 0) {
    lines.push(
      '',
      '| request | requested | version | cohorts | alerts | verdicts | status | new version |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const r of state.requests) {
      lines.push(
        `| ${r.requestId} | ${r.requestedAt} | ${r.modelVersion} | ${r.cohorts.length} | ${r.alerts} ` +
          `| ${r.verdicts.join(', ') || '—'} | ${r.status} | ${r.newVersion ?? '—'} |`,
      );
    }
  }
  for (const r of state.requests.filter((r) => r.status === 'hook_failed'))
    lines.push(
      '',
      `${r.requestId}: the hook failed: ${r.hookError ?? 'unknown'}` +
        (r.hookRetry ? `; called again at ${r.hookRetry.at}` : '; not called again (refused, or failing for a day)'),
    );
  if (state.skipped.length > 0) lines.push('', `Skipped: ${state.skipped.map((s) => `${s.cohortId} (${s.reason})`).join('; ')}`);
  lines.push('', 'Signal retrainingCompleted (hindsight retraining complete) when the new version is ready.');
  return lines.join('\n');
}
