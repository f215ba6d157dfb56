/**
 * `--metrics-port` of `hindsight worker`, `dev` and `demo` (docs/dashboards.md): Hindsight's
 * `GET /metrics` on that port and, where the process runs a worker, the Temporal SDK's own
 * Prometheus exporter (its worker metrics) on the next one. Both are printed at start.
 */
import { createServer } from 'node:net';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { MetricsServer } from '../activities/metrics/metrics-server';
import type { LogLevel } from '@temporalio/worker';
import { installRuntimeLogger } from '../workers/worker';
import { UsageError } from './output';

export const metricsPortSchema = z
  .string()
  .regex(/^\d+$/, 'must be a port number (0 picks a free one)')
  .transform(Number)
  .pipe(z.number().int().min(0).max(65_534));

export interface MetricsPorts {
  host: string;
  /** Hindsight's `/metrics`. */
  port: number;
  /** The Temporal SDK's exporter: the next port, or a free one when `port` was 0. */
  temporalPort: number;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The two ports; 0 picks two free ones, so they are known before the SDK's runtime is installed. */
export async function chooseMetricsPorts(host: string, port: number): Promise<MetricsPorts> {
  if (port !== 0) return { host, port, temporalPort: port + 1 };
  try {
    const chosen = await freePort(host);
    let temporalPort = await freePort(host);
    while (temporalPort === chosen) temporalPort = await freePort(host);
    return { host, port: chosen, temporalPort };
  } catch (error) {
    throw new UsageError(`cannot listen on ${host} for metrics: ${(error as Error).message}; check --metrics-host`);
  }
}

/** `host:port` as the SDK's exporter takes it (an IPv6 host in brackets). */
export function bindAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Installs the SDK's runtime (workers/worker.ts) with its Prometheus exporter on
 * `ports.temporalPort` when given; a port the exporter cannot bind is a usage error.
 */
export function installRuntime(level: LogLevel, ports: MetricsPorts | undefined): void {
  const address = ports ? bindAddress(ports.host, ports.temporalPort) : undefined;
  try {
    installRuntimeLogger(level, address ? { prometheusBindAddress: address } : {});
  } catch (error) {
    if (!address) throw error;
    throw new UsageError(
      `cannot serve the Temporal SDK's worker metrics on ${address} (${(error as Error).message}); choose another --metrics-port`,
    );
  }
}

/** Serves Hindsight's `/metrics` over `db` on `ports.port`; prom-client is loaded only now. */
export async function serveMetrics(db: Knex, host: string, port: number): Promise<MetricsServer> {
  const [{ createMetricsEndpoint }, { startMetricsServer, MetricsPortError }] = await Promise.all([
    import('../activities/metrics/exposition.js'),
    import('../activities/metrics/metrics-server.js'),
  ]);
  try {
    return await startMetricsServer({ host, port, endpoint: createMetricsEndpoint(db) });
  } catch (error) {
    throw error instanceof MetricsPortError ? new UsageError(error.message) : error;
  }
}

/** The line printed at start. */
export function describeMetrics(server: MetricsServer, ports?: MetricsPorts): string {
  const sdk = ports ? `, Temporal SDK worker metrics at http://${bindAddress(ports.host, ports.temporalPort)}/metrics` : '';
  return `metrics   ${server.url}${sdk}`;
}
