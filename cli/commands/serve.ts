import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_MAX_BODY_BYTES, startIngestServer } from '../../activities/ingest/ingest-server';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { EXIT } from '../output';

const serveOptionsSchema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65_535),
  maxBodyBytes: z.coerce.number().int().min(1024),
});

export function registerServe(program: Command, setExit: (code: number) => void): void {
  program
    .command('serve')
    .description(
      'HTTP ingestion: POST /v1/predictions|outcomes|actions (JSON array or NDJSON), GET /healthz, GET /metrics (Prometheus); ' +
        'bearer token HINDSIGHT_API_TOKEN unless on loopback; browser origins only from HINDSIGHT_ALLOWED_ORIGINS',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8787')
    .option('--max-body-bytes <bytes>', 'largest request body accepted', String(DEFAULT_MAX_BODY_BYTES))
    .action(async (rawOptions: unknown) => {
      const options = parseOptions(serveOptionsSchema, rawOptions, 'serve');
      await withDatabase(async (db, env) => {
        // Loaded here, so commands that serve no metrics never load prom-client.
        const { createMetricsEndpoint } = await import('../../activities/metrics/exposition.js');
        const server = await startIngestServer({
          db,
          host: options.host,
          port: options.port,
          token: env.HINDSIGHT_API_TOKEN,
          maxBodyBytes: options.maxBodyBytes,
          allowedOrigins: env.HINDSIGHT_ALLOWED_ORIGINS,
          metrics: createMetricsEndpoint(db),
        });
        process.stderr.write(
          `hindsight serve listening on ${server.url}${env.HINDSIGHT_API_TOKEN ? ' (bearer token required)' : ' (loopback, no token)'}; ` +
            `metrics at ${server.url}/metrics\n`,
        );
        // Finish the requests in flight, then release the database, on Ctrl-C or a stop.
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      });
      setExit(EXIT.ok);
    });
}
