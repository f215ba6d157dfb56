import type { RecalibrationInput } from '../workflows/recalibration';

/** The workflow type to start (`client.workflow.start('recalibration', …)` or the function itself). */
export const RECALIBRATION_WORKFLOW = 'recalibration';

/**
 * The workflow id of one recalibration request of a model version: the same request key (an
 * alert's id, a run's name) starts it once; the fit stores one calibrator version under it.
 */
export function recalibrationWorkflowId(modelName: string, modelVersion: string, requestKey: string): string {
  return ['recalibration', modelName, modelVersion, requestKey].join('/');
}

export interface RecalibrationStartOptions {
  workflowId: string;
  staticSummary: string;
  args: [RecalibrationInput];
}

/** One spelling of how a recalibration starts, by hand or from an alert (schedules set their own ids). */
export function recalibrationStartOptions(input: RecalibrationInput, requestKey: string): RecalibrationStartOptions {
  return {
    workflowId: recalibrationWorkflowId(input.model.name, input.model.version, requestKey),
    staticSummary: recalibrationSummary(input),
    args: [input],
  };
}

/** What the Web UI's workflow list shows for a recalibration. */
export function recalibrationSummary(input: RecalibrationInput): string {
  const environment = input.model.environment ? ` (${input.model.environment})` : '';
  return `recalibrate ${input.model.name} ${input.model.version}${environment} · ${input.labelDefinition} · ${input.method ?? 'auto'}${input.requireApproval ? ' · approval required' : ''}`;
}
