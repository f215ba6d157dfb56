/**
 * What a cohort's alerts ask of Temporal itself: the model's retraining workflow (signal-with-
 * start), a recalibration workflow per calibration alert, and the new version's cohort
 * schedules once retraining completes. Each is idempotent by its workflow or schedule id.
 */
import { activityInfo, getClient } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Knex } from 'knex';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import type { RecalibrationRequest, RetrainingEvidence } from '../../contracts/monitoring';
import { recalibrationStartOptions, type RecalibrationInput } from '../../contracts/recalibration';
import { retrainingRequestedSignal, retrainingWorkflowId } from '../../contracts/retraining';
import { RECALIBRATION_WORKFLOW, RETRAINING_REQUESTS_WORKFLOW, type RetrainingRequestsWorkflow } from '../../contracts/workflow-names';
import { createCohortSchedule, defaultScheduleId, type CohortScheduleMemo } from '../../control/cohort-schedules';
import { getLabelDefinition } from '../evaluate/label-definitions';

export interface ScheduleRetrainedVersionInput {
  model: string;
  fromVersion: string;
  newVersion: string;
  /** `name@version`: the definition of a schedule made when the old version had none. */
  labelDefinition: string;
  every: string;
}

/** The control activities, with the database injected by the worker. */
export function createControlActivities(db: Knex) {
  return {
    /** Signal-with-start: the model's retraining workflow exists after this, holding the evidence. */
    async requestRetraining(evidence: RetrainingEvidence): Promise<{ workflowId: string }> {
      const workflowId = retrainingWorkflowId(evidence.model);
      await getClient().workflow.signalWithStart<RetrainingRequestsWorkflow, [RetrainingEvidence]>(RETRAINING_REQUESTS_WORKFLOW, {
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
        recent: {
          every: request.every,
          everyMs: request.everyMs,
          trainPeriods: request.trainPeriods,
          holdoutPeriods: request.holdoutPeriods,
        },
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
        templates.push({
          model_name: input.model,
          model_version: input.fromVersion,
          environment: null,
          label_definition: input.labelDefinition,
          every: input.every,
          every_ms: 0,
          offset_ms: 0,
          start_at: null,
        });
      }
      const scheduleIds: string[] = [];
      for (const template of templates) {
        const definition = await getLabelDefinition(db, parseLabelDefinitionRef(template.label_definition));
        const request = {
          model: { name: input.model, version: input.newVersion, environment: template.environment },
          definition,
          every: template.every,
        };
        const scheduleId = defaultScheduleId(request);
        const existing = await client.schedule
          .getHandle(scheduleId)
          .describe()
          .catch(() => null);
        if (!existing) await createCohortSchedule(client, { ...request, scheduleId, taskQueue: activityInfo().taskQueue });
        scheduleIds.push(scheduleId);
      }
      return { scheduleIds };
    },
  };
}
