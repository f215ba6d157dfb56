import type { Command } from 'commander';
import { z } from 'zod';
import { loadEnv } from '../../workers/env';
import { installRuntimeLogger } from '../../workers/worker';
import { createTaskList } from '../demo/progress';
import { formatSummary } from '../demo/summary';
import { runDemo } from '../demo/run-demo';
import { parseOptions } from '../options';
import { metricsPortSchema } from '../metrics-ports';
import { createOutput, EXIT } from '../output';

const port = z.string().regex(/^\d+$/, 'must be a port number').transform(Number).pipe(z.number().int().min(1).max(65_535));
const demoOptionsSchema = z.object({
  keepRunning: z.boolean().optional(),
  dbPort: port,
  temporalPort: port,
  uiPort: port,
  pipelinePort: port,
  metricsPort: metricsPortSchema,
  json: z.boolean().optional(),
});

export function registerDemo(program: Command, setExit: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'the whole loop on embedded services: four worked examples, alerts, a diagnosis, a retraining request, ' +
        'a recalibration, a live cohort, reports (about two minutes)',
    )
    .option('--keep-running', 'keep the services, the worker and the Web UI up after the summary, until Ctrl-C')
    .option('--db-port <port>', 'port for the embedded database', '54329')
    .option('--temporal-port <port>', 'port for the Temporal dev server', '7233')
    .option('--ui-port <port>', 'port for the Temporal Web UI', '8233')
    .option('--pipeline-port <port>', "port for the demo's stand-in retraining pipeline and alert webhook", '54330')
    .option('--metrics-port <port>', 'port for GET /metrics (Prometheus), printed at start; 0 picks a free one', '0')
    .option('--json', 'print the summary as one JSON document (progress still goes to stderr)')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(demoOptionsSchema, raw, 'demo');
      const env = loadEnv();
      // The summary tells of the alerts; the worker's own warnings would break up the task list.
      installRuntimeLogger(process.env.HINDSIGHT_LOG_LEVEL ? env.HINDSIGHT_LOG_LEVEL : 'ERROR');
      const out = createOutput(Boolean(options.json));
      const tasks = createTaskList();
      const stopped = new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
      });
      const summary = await runDemo(
        env,
        {
          keepRunning: Boolean(options.keepRunning),
          dbPort: options.dbPort,
          temporalPort: options.temporalPort,
          uiPort: options.uiPort,
          pipelinePort: options.pipelinePort,
          metricsPort: options.metricsPort,
        },
        tasks,
        (summary) => {
          const { reportSubjects, ...document } = summary;
          out.result(document, () => formatSummary(summary));
        },
        () => stopped,
      );
      out.info(
        summary.reused_services
          ? 'demo done: its worker is stopped; the running hindsight dev keeps the services up'
          : 'demo done: the worker, the embedded database and the Temporal dev server are stopped; ' +
              'run it again any time, or `npx hindsight dev` to keep them up',
      );
      setExit(EXIT.ok);
    });
}
