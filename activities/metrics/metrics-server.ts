/**
 * A server of `GET /metrics` alone, for the processes that serve nothing else: `hindsight
 * worker --metrics-port`, `hindsight dev` and `hindsight demo` (`hindsight serve` adds the
 * route to its own server). Prometheus scrapes it (docs/dashboards.md).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsEndpoint } from './exposition';

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export class MetricsPortError extends Error {
  override readonly name = 'MetricsPortError';
}

function answer(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

async function handle(request: IncomingMessage, response: ServerResponse, endpoint: MetricsEndpoint): Promise<void> {
  const { pathname } = new URL(request.url ?? '/', 'http://hindsight');
  if (pathname !== '/metrics') return answer(response, 404, `no such endpoint ${pathname}; this server has GET /metrics\n`);
  if (request.method !== 'GET' && request.method !== 'HEAD') return answer(response, 405, 'use GET /metrics\n', { allow: 'GET, HEAD' });
  const body = await endpoint.render();
  response.writeHead(200, { 'content-type': endpoint.contentType, 'content-length': Buffer.byteLength(body) });
  response.end(request.method === 'HEAD' ? undefined : body);
}

/** Listens on `host:port` (0: a free port); a port in use is a {@link MetricsPortError} that names the option to change. */
export async function startMetricsServer(options: { host: string; port: number; endpoint: MetricsEndpoint }): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    handle(request, response, options.endpoint).catch((error: unknown) =>
      answer(response, 503, `metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  // Prometheus keeps its connection open between scrapes; closing must not wait for it.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES'
          ? new MetricsPortError(`cannot serve metrics on ${options.host}:${options.port} (${error.code}); choose another --metrics-port`)
          : error,
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
