import { activityInfo, getClient, log } from '@temporalio/activity';
import type { Knex } from 'knex';
import { createCohortSchedule, defaultScheduleId, type CohortScheduleMemo } from '../../control/cohort-schedules';
import { retrainingRequests } from '../../workflows/retraining-requests';
import { getLabelDefinition } from '../evaluate/label-definitions';
import { applyMonitoringPolicy, type ApplyPolicyInput, type MonitoringDependencies } from '../monitoring/apply-policy';
import { checkStalledFeeds } from '../monitoring/feeds';
import { deliverAlertNotifications, postWebhook, type WebhookCall } from '../monitoring/notify';
import type { MonitoringOutcome, RecalibrationRequest, RetrainingEvidence } from '../../contracts/monitoring';
import { retrainingRequestedSignal, retrainingWorkflowId } from '../../contracts/retraining';
import type { RecalibrationInput } from '../../contracts/recalibration';
import { RECALIBRATION_WORKFLOW, recalibrationStartOptions } from '../../contracts/recalibration';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

export interface ScheduleRetrainedVersionInput {
  model: string;
  fromVersion: string;
  newVersion: string;
  /** `name@version`: the definition of a schedule made when the old version had none. */
  labelDefinition: string;
  every: string;
}

/** The monitoring activities, with the database and the estimators injected by the worker. */
export function createMonitoringActivities(db: Knex, deps: MonitoringDependencies) {
  return {
    async applyMonitoringPolicy(input: ApplyPolicyInput): Promise<MonitoringOutcome> {
      // The per-group reasons stay out of the workflow's history; the alerts table keeps what fired.
      const { judgements: _reasons, ...outcome } = await applyMonitoringPolicy(db, deps, input);
      for (const alert of outcome.alerts.filter((a) => a.state === 'firing')) {
        log.warn(`alert ${alert.rule} firing on ${input.cohortId} (${alert.slice}): observed ${alert.observed}, baseline ${alert.baseline}${alert.verdict ? `, diagnosis ${alert.verdict}` : ''}`, {
          alertId: alert.alertId,
        });
      }
      return outcome;
    },

    async deliverAlertNotifications(input: { cohortId: string | null }): Promise<{ delivered: number }> {
      return deliverAlertNotifications(db, input);
    },

    async checkStalledFeeds(input: { policy: string; now: string }) {
      const result = await checkStalledFeeds(db, input);
      for (const check of result.checks.filter((c) => c.state === 'firing')) {
        log.warn(`feed ${check.outcome_type} stalled (rule ${check.rule}): last outcome received ${check.last_received ?? 'never'}`);
      }
      return result;
    },

    /** Signal-with-start: the model's retraining workflow exists after this, holding the evidence. */
    async requestRetraining(evidence: RetrainingEvidence): Promise<{ workflowId: string }> {
      const workflowId = retrainingWorkflowId(evidence.model);
      await getClient().workflow.signalWithStart(retrainingRequests, {
        workflowId,
        taskQueue: activityInfo().taskQueue,
        args: [{ model: evidence.model }],
        signal: retrainingRequestedSignal,
        signalArgs: [evidence],
        staticSummary: `retraining requests of ${evidence.model}`,
      });
      return { workflowId };
    },

    /** Starts the model version's recalibration workflow for a calibration alert (once per alert). */
    async requestRecalibration(request: RecalibrationRequest): Promise<{ workflowId: string }> {
      const input: RecalibrationInput = {
        model: { name: request.model, version: request.modelVersion, environment: null },
        labelDefinition: request.labelDefinition,
        recent: { every: request.every, everyMs: request.everyMs, trainPeriods: request.trainPeriods, holdoutPeriods: request.holdoutPeriods },
        method: request.method,
        requireApproval: request.requireApproval,
        trigger: `alert ${request.alertId} (${request.rules.join(', ')}) on ${request.cohortId}`,
      };
      const options = recalibrationStartOptions(input, `alert-${request.alertId}`);
      try {
        await getClient().workflow.start(RECALIBRATION_WORKFLOW, { ...options, taskQueue: activityInfo().taskQueue });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
      return { workflowId: options.workflowId };
    },

    async callRetrainingWebhook(call: WebhookCall): Promise<void> {
      await postWebhook(call);
    },

    /**
     * Copies each schedule of the old version to the new one (same definition, period and
     * environment); when the old version has none, makes one from the request. An existing
     * schedule of the new version is kept, so a retry changes nothing.
     */
    async scheduleRetrainedVersion(input: ScheduleRetrainedVersionInput): Promise<{ scheduleIds: string[] }> {
      const client = getClient();
      const templates: CohortScheduleMemo[] = [];
      for await (const schedule of client.schedule.list()) {
        const memo = schedule.memo?.hindsight as CohortScheduleMemo | undefined;
        if (memo && memo.model_name === input.model && memo.model_version === input.fromVersion) templates.push(memo);
      }
      if (templates.length === 0) {
        templates.push({ model_name: input.model, model_version: input.fromVersion, environment: null, label_definition: input.labelDefinition, every: input.every, every_ms: 0, offset_ms: 0, start_at: null });
      }
      const scheduleIds: string[] = [];
      for (const template of templates) {
        const definition = await getLabelDefinition(db, parseLabelDefinitionRef(template.label_definition));
        const request = { model: { name: input.model, version: input.newVersion, environment: template.environment }, definition, every: template.every };
        const scheduleId = defaultScheduleId(request);
        const existing = await client.schedule.getHandle(scheduleId).describe().catch(() => null);
        if (!existing) await createCohortSchedule(client, { ...request, scheduleId, taskQueue: activityInfo().taskQueue });
        scheduleIds.push(scheduleId);
      }
      return { scheduleIds };
    },
  };
}

export type MonitoringActivities = ReturnType<typeof createMonitoringActivities>;
