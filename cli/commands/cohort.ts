import type { Command } from 'commander';
import { listSnapshots, loadCohort } from '../../activities/cohorts';
import { getLabelDefinition, parseLabelDefinitionRef } from '../../activities/label-definitions';
import { loadEnv } from '../../workers/env';
import { getStatusQuery, recheckLateLabelsSignal } from '../../workflows';
import { withDatabase, withTemporalClient } from '../context';
import { addCohortOptions, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { startCohortLifecycle } from '../start-cohort';

export function registerCohort(program: Command, setExit: (code: number) => void): void {
  const group = program.command('cohort').description('start, inspect and signal cohort lifecycle workflows');

  addCohortOptions(
    group.command('start')
      .description('start the lifecycle of one cohort (idempotent: the cohort id is the workflow id)'), { asOf: false })
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(cohortOptionsSchema, raw, 'cohort start');
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const definition = await withDatabase((db) => getLabelDefinition(db, parseLabelDefinitionRef(options.labelDefinition)));
      const selector = cohortSelectorFrom(options);
      const started = await withTemporalClient(env, (client) => startCohortLifecycle(client, env.HINDSIGHT_TASK_QUEUE, selector, definition));
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
        const handle = client.workflow.getHandle(cohortId);
        const description = await handle.describe();
        return { status: description.status.name, state: await handle.query(getStatusQuery) };
      });
      const snapshots = await withDatabase(async (db) => {
        await loadCohort(db, cohortId);
        return (await listSnapshots(db, cohortId)).map((row) => ({
          snapshot_id: row.snapshot_id,
          checkpoint: row.checkpoint,
          revision: row.revision,
          as_of: new Date(row.as_of).toISOString(),
          overall: row.document.overall,
        }));
      });
      const document = { cohort_id: cohortId, workflow_status: workflow.status, phase: workflow.state.phase, next_wake_at: workflow.state.nextWakeAt, plan: workflow.state.plan, snapshots };
      out.result(document, () =>
        [`${cohortId}: ${workflow.status}, ${workflow.state.phase}${workflow.state.nextWakeAt ? ` until ${workflow.state.nextWakeAt}` : ''}`,
          ...snapshots.map((s) => `  ${s.checkpoint} r${s.revision} as of ${s.as_of}: n=${s.overall.n} availability=${s.overall.label_availability}`)].join('\n'),
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
}
