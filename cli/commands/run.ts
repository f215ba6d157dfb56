import type { Command } from 'commander';
import { z } from 'zod';
import type { Knex } from 'knex';
import { migrate } from '../../sql/migrate';
import { loadEnv, type Env } from '../../workers/env';
import { removeDevState, resolveTemporalAddress, startServices, writeDevState } from '../../workers/services';
import { runHindsightWorker, type LifecycleListener } from '../../workers/worker';
import { probeAddress, withDatabase, withTemporalClient } from '../context';
import { createOutput, EXIT } from '../output';
import { formatNumber } from '../../workflows/cohort-lifecycle';
import { startLiveCohort } from '../live-cohort';
import { chooseMetricsPorts, describeMetrics, installRuntime, metricsPortSchema, serveMetrics } from '../metrics-ports';
import { parseOptions } from '../options';

const workerOptionsSchema = z.object({ metricsPort: metricsPortSchema.optional(), metricsHost: z.string().min(1).default('127.0.0.1') });

export function registerRun(program: Command, setExit: (code: number) => void): void {
  program
    .command('worker')
    .description('run the Hindsight worker (workflows + activities) until Ctrl-C')
    .option('--metrics-port <port>', "serve GET /metrics (Prometheus) here, the Temporal SDK's worker metrics on the next port")
    .option('--metrics-host <host>', 'address the metrics listen on', '127.0.0.1')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(workerOptionsSchema, raw, 'worker');
      const env = loadEnv();
      const ports = options.metricsPort === undefined ? undefined : await chooseMetricsPorts(options.metricsHost, options.metricsPort);
      const address = resolveTemporalAddress(env);
      await probeAddress(address);
      await withDatabase(async (db) => {
        // Before the SDK's runtime, which would keep a process that failed here alive.
        const metrics = ports ? await serveMetrics(db, ports.host, ports.port) : undefined;
        try {
          installRuntime(env.HINDSIGHT_LOG_LEVEL, ports);
          if (metrics) process.stderr.write(`${describeMetrics(metrics, ports)}\n`);
          await runHindsightWorker({ address, db, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.HINDSIGHT_TASK_QUEUE }, async () => {
            process.stderr.write(`worker polling ${env.HINDSIGHT_TASK_QUEUE} on ${address}\n`);
          });
        } finally {
          await metrics?.close();
        }
      });
      setExit(EXIT.ok);
    });

  program
    .command('dev')
    .description(
      'embedded services + worker in the foreground until Ctrl-C ' +
        '(PGlite unless DATABASE_URL, a Temporal dev server unless TEMPORAL_ADDRESS)',
    )
    .option('--sample', 'load a small sample cohort and start its lifecycle (about 90 seconds end to end)')
    .option('--db-port <port>', 'port for the embedded database', '54329')
    .option('--metrics-port <port>', "port for GET /metrics (Prometheus); the Temporal SDK's worker metrics on the next one", '9464')
    .action(async (options: { sample?: boolean; dbPort: string; metricsPort: string }) => {
      const env = loadEnv();
      const metricsPort = parseOptions(workerOptionsSchema, { metricsPort: options.metricsPort }, 'dev').metricsPort!;
      const ports = await chooseMetricsPorts('127.0.0.1', metricsPort);
      installRuntime(env.HINDSIGHT_LOG_LEVEL, ports);
      const out = createOutput(false);
      const services = await startServices(env, { db: Number(options.dbPort) }, (line) => out.info(line));
      const { db } = services;
      let stopMetrics = async (): Promise<void> => {};
      try {
        await migrate(db);
        await writeDevState(env, {
          pid: process.pid,
          databaseUrl: services.databaseUrl,
          embeddedDatabase: services.embeddedDatabase,
          temporalAddress: services.temporalAddress,
          temporalUiUrl: services.uiUrl,
        });
        out.info(`database  ${services.embeddedDatabase ? 'embedded PGlite' : 'DATABASE_URL'} at ${services.databaseUrl}`);
        out.info(`temporal  ${services.temporalAddress}${services.uiUrl ? `, Web UI ${services.uiUrl}` : ''}`);
        const metrics = await serveMetrics(db, ports.host, ports.port);
        stopMetrics = () => metrics.close();
        out.info(describeMetrics(metrics, ports));
        const listener = printLifecycleEvents((line) => out.info(line));
        await runHindsightWorker(
          { address: services.temporalAddress, db, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.HINDSIGHT_TASK_QUEUE, listener },
          async () => {
            if (options.sample) {
              const cohortId = await startSampleCohort(db, env);
              out.info(`sample cohort ${cohortId} started; watch it in the Web UI or with: npx hindsight cohort status '${cohortId}'`);
            }
            out.info('worker running; Ctrl-C stops everything');
          },
        );
        out.info('stopping: the worker has finished its tasks');
      } finally {
        await stopMetrics();
        await removeDevState(env);
        await services.stop();
      }
      out.info(
        `stopped ${env.TEMPORAL_ADDRESS ? '' : 'the Temporal dev server, '}the worker and ` +
          `${services.embeddedDatabase ? 'the embedded database' : 'the database connection'}; ` +
          `cohorts resume where they were on the next start. Goodbye.`,
      );
      setExit(EXIT.ok);
    });
}

/** One line per stored snapshot and closed cohort, for the terminal `hindsight dev` runs in. */
export function printLifecycleEvents(print: (line: string) => void): LifecycleListener {
  return {
    snapshotStored: (cohortId, s) => {
      const quality =
        s.rocAuc === null && s.brier === null
          ? ''
          : ` roc_auc=${formatNumber(s.rocAuc)} brier=${formatNumber(s.brier)} recall=${formatNumber(s.recall)}`;
      print(
        `snapshot  ${s.checkpoint} r${s.revision} as of ${s.asOf}: n=${s.n}${quality} ` +
          `label_availability=${formatNumber(s.labelAvailability)}  ${cohortId}`,
      );
    },
    cohortClosed: (cohortId, snapshots) => print(`closed    ${cohortId} after ${snapshots} snapshot${snapshots === 1 ? '' : 's'}`),
  };
}

/** Runs after dev state is written, so the Temporal client finds this dev server. */
async function startSampleCohort(db: Knex, env: Env): Promise<string> {
  const started = await withTemporalClient(env, (client) => startLiveCohort(db, client, env.HINDSIGHT_TASK_QUEUE, env.HINDSIGHT_STATE_DIR));
  return started.cohort_id;
}
