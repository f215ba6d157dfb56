import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { describeDeliveries, deliveryStates } from '../../activities/delivery/outbox';
import { cohortAlerts } from '../../activities/monitoring/alert-store';
import { z } from 'zod';
import { listSnapshots, loadCohort, loadSnapshot } from '../../activities/evaluate/cohorts';
import type { GroupMetrics } from '../../contracts/evaluation';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { loadEnv } from '../../workers/env';
import { evaluateNowUpdate, getStatusQuery, recheckLateLabelsSignal } from '../../workflows';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import {
  COHORT_END,
  COHORT_START,
  ENVIRONMENT,
  LABEL_DEFINITION,
  LIFECYCLE_STAGE,
  MODEL_NAME,
  MODEL_VERSION,
} from '../../contracts/search-attributes';
import { withDatabase, withTemporalClient } from '../context';
import { addCohortOptions, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { startCohortLifecycle } from '../../control/start-cohort';
import { workflowState } from '../../control/workflow-state';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { COHORT_PHASES } from '../../contracts/lifecycle';

export function registerCohort(program: Command, setExit: (code: number) => void): void {
  const group = program.command('cohort').description('start, inspect and signal cohort lifecycle workflows');

  addCohortOptions(group.command('start').description('start the lifecycle of one cohort (idempotent: the cohort id is the workflow id)'), {
    asOf: false,
  })
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(cohortOptionsSchema, raw, 'cohort start');
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const definition = await withDatabase((db) =>
        getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), options.model),
      );
      const selector = cohortSelectorFrom(options);
      const started = await withTemporalClient(env, (client) =>
        startCohortLifecycle(client, env.HINDSIGHT_TASK_QUEUE, selector, definition),
      );
      const cohortId = started.cohort_id;
      out.result(started, () => `${started.already_started ? 'already started' : 'started'} ${cohortId}`);
      setExit(EXIT.ok);
    });

  group
    .command('status')
    .argument('<cohort-id>', 'the id printed by cohort start')
    .option('--json', 'print one JSON document')
    .description('where a cohort is in its lifecycle, and its snapshots')
    .action(async (cohortId: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const workflow = await withTemporalClient(env, async (client) => {
        const { handle, description } = await describeCohort(client, cohortId);
        const state = await workflowState(handle, description.status.name, getStatusQuery);
        return { status: description.status.name, state };
      });
      const { snapshots, alerts, deliveries } = await withDatabase(async (db) => {
        await loadCohort(db, cohortId);
        const snapshots = (await listSnapshots(db, cohortId)).map((row) => ({
          snapshot_id: row.snapshot_id,
          checkpoint: row.checkpoint,
          revision: row.revision,
          as_of: new Date(row.as_of).toISOString(),
          overall: row.document.overall,
        }));
        return { snapshots, alerts: await cohortAlerts(db, cohortId), deliveries: await deliveryStates(db, cohortId) };
      });
      const document = {
        cohort_id: cohortId,
        workflow_status: workflow.status,
        phase: workflow.state.phase,
        next_wake_at: workflow.state.nextWakeAt,
        plan: workflow.state.plan,
        snapshots,
        alerts,
        deliveries,
      };
      out.result(document, () =>
        [
          `${cohortId}: ${workflow.status}, ${workflow.state.phase}` +
            `${workflow.state.nextWakeAt ? ` until ${workflow.state.nextWakeAt}` : ''}`,
          ...snapshots.map((s) => `  ${s.checkpoint} r${s.revision} as of ${s.as_of}: ${formatHeadline(s.overall)}`),
          ...alerts.map(
            (a) =>
              `  alert ${a.rule} (${a.slice}) ${a.state}, ${a.severity}: ` +
              `observed ${a.observed ?? '—'} vs ${a.baseline ?? '—'}${a.verdict ? `, diagnosis ${a.verdict}` : ''}`,
          ),
          ...(deliveries.total > 0 ? [`  alert notifications: ${describeDeliveries(deliveries)}`] : []),
        ].join('\n'),
      );
      setExit(EXIT.ok);
    });

  group
    .command('signal')
    .argument('<cohort-id>', 'the id printed by cohort start')
    .argument('<signal>', 'recheck-late-labels')
    .option('--json', 'print one JSON document')
    .description('send a signal to a cohort workflow')
    .action(async (cohortId: string, signal: string, options: { json?: boolean }) => {
      if (signal !== 'recheck-late-labels') throw new UsageError(`cohort signal: unknown signal "${signal}"; known: recheck-late-labels`);
      const out = createOutput(Boolean(options.json));
      await withTemporalClient(loadEnv(), (client) => client.workflow.getHandle(cohortId).signal(recheckLateLabelsSignal));
      out.result({ cohort_id: cohortId, signal }, () => `sent ${signal} to ${cohortId}`);
      setExit(EXIT.ok);
    });

  group
    .command('list')
    .description('find cohorts by model, version, environment and lifecycle stage (Temporal search attributes)')
    .option('--model <name>', 'model name')
    .option('--version <version>', 'model version')
    .option('--environment <env>', 'environment')
    .option('--stage <stage>', `lifecycle stage: ${COHORT_PHASES.join(', ')}`)
    .option('--limit <n>', 'at most this many, newest first', '200')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(listOptionsSchema, raw, 'cohort list');
      const out = createOutput(Boolean(options.json));
      const query = [
        `WorkflowType = 'cohortLifecycle'`,
        ...(
          [
            [MODEL_NAME.name, options.model],
            [MODEL_VERSION.name, options.version],
            [ENVIRONMENT.name, options.environment],
            [LIFECYCLE_STAGE.name, options.stage],
          ] as const
        )
          .filter(([, value]) => value !== undefined)
          .map(([name, value]) => `${name} = '${value}'`),
      ].join(' AND ');
      const cohorts = await withTemporalClient(loadEnv(), async (client) => {
        const found = [];
        for await (const execution of client.workflow.list({ query })) {
          const attributes = execution.typedSearchAttributes;
          found.push({
            cohort_id: execution.workflowId,
            model_name: attributes.get(MODEL_NAME) ?? null,
            model_version: attributes.get(MODEL_VERSION) ?? null,
            environment: attributes.get(ENVIRONMENT) ?? null,
            label_definition: attributes.get(LABEL_DEFINITION) ?? null,
            start: attributes.get(COHORT_START)?.toISOString() ?? null,
            end: attributes.get(COHORT_END)?.toISOString() ?? null,
            phase: attributes.get(LIFECYCLE_STAGE) ?? null,
            workflow_status: execution.status.name,
          });
          if (found.length >= options.limit) break;
        }
        return found;
      });
      out.result({ cohorts }, () =>
        cohorts.length === 0
          ? 'no cohorts match'
          : cohorts.map((c) => `${(c.phase ?? '?').padEnd(22)} ${c.workflow_status.padEnd(10)} ${c.cohort_id}`).join('\n'),
      );
      setExit(EXIT.ok);
    });

  group
    .command('evaluate-now')
    .argument('<cohort-id>', 'a running cohort')
    .option('--json', 'print one JSON document')
    .description('store and print a snapshot as of now (checkpoint adhoc); the planned checkpoints go on untouched')
    .action(async (cohortId: string, options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const summary = await withTemporalClient(env, async (client) => {
        const {
          handle,
          description: { status },
        } = await describeCohort(client, cohortId);
        if (status.name !== 'RUNNING')
          throw new UsageError(
            `cohort ${cohortId} is ${status.name.toLowerCase()}: evaluate-now needs a running cohort ` +
              `(for any moment, use hindsight evaluate --as-of)`,
          );
        try {
          return await handle.executeUpdate(evaluateNowUpdate);
        } catch (error) {
          if (error instanceof WorkflowUpdateFailedError)
            throw new UsageError(`evaluate-now refused: ${(error.cause as Error | undefined)?.message ?? error.message}`);
          throw error;
        }
      });
      const snapshot = await withDatabase((db) => loadSnapshot(db, summary.snapshotId));
      const document = {
        cohort_id: cohortId,
        snapshot_id: summary.snapshotId,
        checkpoint: summary.checkpoint,
        revision: summary.revision,
        as_of: summary.asOf,
        overall: snapshot?.document.overall ?? null,
      };
      out.result(
        document,
        () => `${cohortId}: adhoc r${summary.revision} as of ${summary.asOf}: ${snapshot ? formatHeadline(snapshot.document.overall) : ''}`,
      );
      setExit(EXIT.ok);
    });
}

const quoteFree = z
  .string()
  .min(1)
  .regex(/^[^'"\\]+$/, 'must not contain quotes or backslashes');
const listOptionsSchema = z.object({
  model: quoteFree.optional(),
  version: quoteFree.optional(),
  environment: quoteFree.optional(),
  stage: z.enum(COHORT_PHASES).optional(),
  limit: z.coerce.number().int().min(1).max(100_000),
  json: z.boolean().optional(),
});

/** A cohort's workflow and its description, or a message that says how to find one. */
async function describeCohort(client: Client, cohortId: string) {
  const handle = client.workflow.getHandle(cohortId);
  try {
    return { handle, description: await handle.describe() };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new UsageError(`no cohort workflow ${cohortId}; find cohorts with: hindsight cohort list --model M`);
    throw error;
  }
}

/** The numbers an operator looks at first: quality and how much of it is known yet. */
export function formatHeadline(overall: GroupMetrics): string {
  const quality =
    'roc_auc' in overall
      ? `roc_auc=${formatNumber(overall.roc_auc)} brier=${formatNumber(overall.brier)} recall=${formatNumber(overall.recall)}`
      : `mae=${formatNumber(overall.mae)} rmse=${formatNumber(overall.rmse)}`;
  return `n=${overall.n} labeled=${overall.n_labeled} ${quality} label_availability=${formatNumber(overall.label_availability)}`;
}
