import type { Command } from 'commander';
import { z } from 'zod';
import { loadEnv } from '../../workers/env';
import { completeRetrainingUpdate, getRetrainingStateQuery, retrainingWorkflowId } from '../../contracts/retraining';
import { decide } from '../../control/updates';
import { withTemporalClient } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';

const completeOptions = z.object({ model: z.string().min(1), newVersion: z.string().min(1), json: z.boolean().optional() });
const statusOptions = z.object({ model: z.string().min(1), json: z.boolean().optional() });

export function registerRetraining(program: Command, setExit: (code: number) => void): void {
  const group = program.command('retraining').description("a model's retraining requests (made by alerts, see docs/alerts.md)");
  group
    .command('complete')
    .requiredOption('--model <name>', 'the model that was retrained')
    .requiredOption('--new-version <version>', 'the version the retraining produced')
    .option('--json', 'print one JSON document')
    .description("tell the retraining workflow the new version is ready; it schedules the new version's cohorts")
    .action(async (raw: unknown) => {
      const options = parseOptions(completeOptions, raw, 'retraining complete');
      const out = createOutput(Boolean(options.json));
      const workflowId = retrainingWorkflowId(options.model);
      const env = loadEnv();
      const request = await withTemporalClient(env, async (client) => {
        const handle = client.workflow.getHandle(workflowId);
        const description = await handle.describe().catch(() => null);
        if (description?.status.name !== 'RUNNING') {
          throw new UsageError(`no retraining request is open for model ${options.model}: workflow ${workflowId} is not running`);
        }
        return decide(client, handle, completeRetrainingUpdate, [{ newVersion: options.newVersion }], description.taskQueue);
      });
      out.result(
        {
          workflow_id: workflowId,
          model: options.model,
          new_version: options.newVersion,
          request_id: request.requestId,
          schedule_id: request.scheduleId,
        },
        () =>
          `${workflowId}: ${options.model} ${options.newVersion} completed ${request.requestId}; ` +
          `cohorts scheduled by ${request.scheduleId ?? '(none)'}`,
      );
      setExit(EXIT.ok);
    });
  group
    .command('status')
    .requiredOption('--model <name>', 'the model')
    .option('--json', 'print one JSON document')
    .action(async (raw: unknown) => {
      const options = parseOptions(statusOptions, raw, 'retraining status');
      const out = createOutput(Boolean(options.json));
      const workflowId = retrainingWorkflowId(options.model);
      const state = await withTemporalClient(loadEnv(), (client) =>
        client.workflow
          .getHandle(workflowId)
          .query(getRetrainingStateQuery)
          .catch(() => {
            throw new UsageError(`model ${options.model} has no retraining requests (workflow ${workflowId} does not exist)`);
          }),
      );
      out.result({ workflow_id: workflowId, ...state }, () =>
        [
          `${workflowId}: ${state.requests.length} request(s), ${state.skipped.length} skipped`,
          ...state.requests.map((r) => `${r.requestId}\t${r.status}\t${r.cohorts.length} cohort(s)\t${r.newVersion ?? ''}`),
        ].join('\n'),
      );
      setExit(EXIT.ok);
    });
}
