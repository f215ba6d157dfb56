import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

/** One webhook call the demo's stand-in pipeline accepted, once per idempotency key. */
export interface ReceivedCall {
  path: string;
  idempotency_key: string;
  received_at: string;
  body: Record<string, unknown>;
}

export interface DemoPipeline {
  url: string;
  /** Every call received so far, this run and earlier ones (kept in the journal file). */
  calls(): ReceivedCall[];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1 << 20;

/**
 * The receiver the demo's policy points its webhooks at: `/retrain` stands for a retraining
 * pipeline, `/alerts` for an on-call channel. It keeps one entry per `Idempotency-Key`, as a
 * real receiver must, since Hindsight retries a delivery until it sees a 2xx; a repeat is
 * acknowledged and not recorded twice. Calls persist in `journal` so a rerun of the demo
 * still knows what earlier runs received.
 */
export async function startDemoPipeline(port: number, journal: string): Promise<DemoPipeline> {
  const calls: ReceivedCall[] = existsSync(journal) ? (JSON.parse(readFileSync(journal, 'utf8')) as ReceivedCall[]) : [];
  let saving: Promise<void> = Promise.resolve();
  const server: Server = createServer((request, response) => {
    const key = request.headers['idempotency-key'];
    if (request.method !== 'POST' || typeof key !== 'string' || key === '') {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('POST with an Idempotency-Key header\n');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        response.writeHead(413).end();
        return;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        response.writeHead(400, { 'content-type': 'text/plain' }).end('the body is not JSON\n');
        return;
      }
      if (!calls.some((call) => call.idempotency_key === key)) {
        calls.push({ path: request.url ?? '/', idempotency_key: key, received_at: new Date().toISOString(), body });
        saving = saving.then(() => writeFile(journal, `${JSON.stringify(calls, null, 2)}\n`));
      }
      saving.then(
        () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true}\n'),
        () => response.writeHead(503).end(),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' ? new Error(`port ${port} for the demo's pipeline receiver is taken; pass --pipeline-port`) : error,
      ),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    calls: () => [...calls],
    async close() {
      await saving;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
