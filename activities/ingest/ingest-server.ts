import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { ingestRecords } from './ingest-records';
import { parseNdjson, type SourceRecord } from './parse-ndjson';
import { RECORD_KINDS, type RecordKind } from './record-schemas';

export interface IngestServerOptions {
  db: Knex;
  host: string;
  port: number;
  /** Bearer token every POST must carry; required unless `host` is a loopback address. */
  token?: string | undefined;
  /** Largest request body accepted, in bytes (default 16 MiB); larger ones get 413. */
  maxBodyBytes?: number;
}

export interface IngestServer {
  url: string;
  close(): Promise<void>;
}

export class ServeConfigError extends Error {
  override readonly name = 'ServeConfigError';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const ENDPOINTS = RECORD_KINDS.map((kind) => `POST /v1/${kind}`).join(', ');

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

function send(response: ServerResponse, status: number, document: unknown, headers: Record<string, string> = {}): void {
  const body = `${JSON.stringify(document)}\n`;
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

function checkToken(request: IncomingMessage, token: string | undefined): void {
  if (!token) return;
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  const challenge = { 'www-authenticate': 'Bearer realm="hindsight"' };
  if (!match) throw new HttpError(401, 'missing bearer token: send Authorization: Bearer <HINDSIGHT_API_TOKEN>', challenge);
  const given = Buffer.from(match[1]!.trim());
  const expected = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new HttpError(401, 'bearer token is not valid', challenge);
}

/**
 * Reads the body up to `limit` bytes. Past the limit the rest is read and dropped rather
 * than the socket cut, so the client sees the 413 and its message instead of a reset.
 */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = new HttpError(413, `request body exceeds the limit of ${limit} bytes; send smaller batches`);
  if (Number(request.headers['content-length'] ?? 0) > limit) {
    request.resume();
    return Promise.reject(tooLarge);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > 8 * limit) request.destroy();
    });
    request.on('end', () => (size > limit ? reject(tooLarge) : resolve(Buffer.concat(chunks))));
    request.on('error', reject);
  });
}

/**
 * A JSON array (records numbered by position, from 1) or NDJSON (numbered by line): the
 * first non-blank character decides, whatever the content type says.
 */
async function toBatches(body: Buffer): Promise<SourceRecord[][]> {
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trimStart().startsWith('[')) {
    let values: unknown;
    try {
      values = JSON.parse(text);
    } catch (error) {
      throw new HttpError(400, `body starts like a JSON array but is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(values)) throw new HttpError(400, 'body must be a JSON array of records or NDJSON');
    return [values.map((value, index) => ({ line: index + 1, text: JSON.stringify(value) ?? 'null', value }))];
  }
  const batches: SourceRecord[][] = [];
  for await (const batch of parseNdjson(Readable.from([body]))) batches.push(batch);
  return batches;
}

async function handle(request: IncomingMessage, response: ServerResponse, options: IngestServerOptions): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://hindsight');
  if (url.pathname === '/healthz') {
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, 'use GET /healthz', { allow: 'GET, HEAD' });
    await options.db.raw('select 1');
    send(response, 200, { status: 'ok' });
    return;
  }
  const match = /^\/v1\/([a-z]+)$/.exec(url.pathname);
  const kind = match?.[1];
  if (!kind || !(RECORD_KINDS as readonly string[]).includes(kind)) throw new HttpError(404, `no such endpoint ${request.method} ${url.pathname}; this server has ${ENDPOINTS} and GET /healthz`);
  if (request.method !== 'POST') throw new HttpError(405, `use POST /v1/${kind}`, { allow: 'POST' });
  checkToken(request, options.token);
  const body = await readBody(request, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  if (body.length === 0) throw new HttpError(400, 'empty body: send a JSON array of records or NDJSON');
  const result = await ingestRecords(options.db, kind as RecordKind, await toBatches(body));
  const { rejects_file: _none, ...document } = result;
  send(response, 200, document);
}

/**
 * `hindsight serve`: HTTP ingestion for model services in any language, with the same
 * validation, identity rules and result document as `hindsight ingest`. Refuses to listen
 * beyond loopback without a token, so records cannot be written by anyone who can reach it.
 */
export async function startIngestServer(options: IngestServerOptions): Promise<IngestServer> {
  if (!options.token && !isLoopback(options.host)) {
    throw new ServeConfigError(`serve: HINDSIGHT_API_TOKEN must be set to listen on ${options.host}; without a token only loopback (127.0.0.1) is allowed`);
  }
  const server: Server = createServer((request, response) => {
    handle(request, response, options).catch((error: unknown) => {
      if (error instanceof HttpError) send(response, error.status, { error: error.message }, error.headers);
      else {
        process.stderr.write(`serve: ${error instanceof Error ? error.stack : String(error)}\n`);
        send(response, 503, { error: `could not store the records (${(error as Error).message}); nothing is lost by retrying: ingest is idempotent` });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
