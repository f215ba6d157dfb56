import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Knex } from 'knex';
import { describeFailure } from '../../sql/failure-message';
import { awaitWithinDeadline, type PendingWork } from './answer-deadline';
import { decodeUtf8 } from './decode-utf8';
import { IngestAbortedError, ingestRecords } from './ingest-records';
import { parseNdjson, type SourceRecord } from './parse-ndjson';
import { RECORD_KINDS, type RecordKind } from '../../contracts/records';

export interface IngestServerOptions {
  db: Knex;
  host: string;
  port: number;
  /** Bearer token every POST must carry; required unless `host` is a loopback address. */
  token?: string | undefined;
  /** Largest request body accepted, in bytes (default 16 MiB), after gzip is undone; larger ones get 413. */
  maxBodyBytes?: number;
  /** Browser origins allowed to call (`HINDSIGHT_ALLOWED_ORIGINS`); any other `Origin` gets 403. */
  allowedOrigins?: readonly string[];
  /** How long a slow client may hold a connection; see {@link DEFAULT_TIMEOUTS}. */
  timeouts?: Partial<ServeTimeouts>;
  /** `GET /metrics` in the Prometheus text format (activities/metrics/exposition.ts), bearer token as for POST. */
  metrics?: { contentType: string; render(): Promise<string> };
}

export interface ServeTimeouts {
  /** Until the request headers are complete. */
  headersMs: number;
  /** Until the whole request (headers and body) has arrived. */
  requestMs: number;
  /** An idle keep-alive connection between requests. */
  keepAliveMs: number;
  /** A socket with no traffic while the client sends or between requests (never while the server works on one). */
  idleMs: number;
  /**
   * How long the server works on a request that has arrived before it answers 503 with
   * `Retry-After`: the records go on being stored, and the client's retry of the same batch
   * stores none twice (identical records count as duplicates).
   */
  answerMs: number;
}

/** Long enough for a 16 MiB batch on a slow link, short enough that stalled clients cannot pile up. */
export const DEFAULT_TIMEOUTS: ServeTimeouts = {
  headersMs: 10_000,
  requestMs: 60_000,
  keepAliveMs: 5_000,
  idleMs: 30_000,
  answerMs: 25_000,
};

/** Content types of the bodies `serve` reads; anything else is 415, so a browser form cannot post. */
const JSON_CONTENT_TYPES = new Set(['application/json', 'application/x-ndjson']);

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
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
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
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new HttpError(401, 'bearer token is not valid', challenge);
}

/**
 * Reads the body up to `limit` bytes, gunzipped when it says `Content-Encoding: gzip`: the
 * limit applies to what comes out, and inflating stops there, so a small bomb cannot fill
 * memory. Past the limit the rest is read and dropped rather than the socket cut, so the
 * client sees the 413 and its message instead of a reset.
 */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    request.resume();
    return Promise.reject(new HttpError(415, `Content-Encoding ${encoding} is not supported; send gzip or no encoding`));
  }
  const tooLarge = new HttpError(
    413,
    `request body exceeds the limit of ${limit} bytes${encoding === 'gzip' ? ' once gunzipped' : ''}; send smaller batches`,
  );
  if (Number(request.headers['content-length'] ?? 0) > limit) {
    request.resume();
    return Promise.reject(tooLarge);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    /** Answers once the client has finished sending, so it reads the answer instead of a reset. */
    const fail = (error: HttpError) => {
      if (request.readableEnded) reject(error);
      else {
        request.once('end', () => reject(error));
        request.resume();
      }
    };
    request.on('data', (chunk: Buffer) => {
      wire += chunk.length;
      if (wire > 8 * limit) request.destroy();
    });
    // The client went away (or timed out): there is no one to answer, and it is not a server fault.
    request.on('error', () => reject(new HttpError(400, 'the request was aborted before its body arrived')));
    const gunzip = encoding === 'gzip' ? createGunzip() : null;
    const decoded: Readable = gunzip ? request.pipe(gunzip) : request;
    decoded.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (gunzip) {
        request.unpipe(gunzip);
        gunzip.destroy();
        fail(tooLarge);
      }
    });
    decoded.on('end', () => (size > limit ? reject(tooLarge) : resolve(Buffer.concat(chunks))));
    gunzip?.on('error', (error) => fail(new HttpError(400, `body is not valid gzip: ${error.message}`)));
  });
}

/** The body's JSON text: refused whole when it is not UTF-8 (a JSON array has no lines to reject one by one). */
function decodeJsonArray(body: Buffer): string {
  const decoded = decodeUtf8(body);
  if (!decoded.ok) throw new HttpError(400, `body is not valid UTF-8 at byte offset ${decoded.offset}: text must be sent as UTF-8`);
  return decoded.text.replace(/^\uFEFF/, '');
}

/** A record's text for messages; a value too deep to print is rejected by validation anyway. */
function describeRecord(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return '(too deeply nested to print)';
  }
}

/** The first byte after a byte-order mark and JSON whitespace; NDJSON is decoded line by line by its parser. */
function firstSignificantByte(body: Buffer): number | undefined {
  let at = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  while (body[at] === 0x20 || body[at] === 0x09 || body[at] === 0x0a || body[at] === 0x0d) at += 1;
  return body[at];
}

/**
 * A JSON array (records numbered by position, from 1) or NDJSON (numbered by line): the
 * first non-blank character decides, whatever the content type says.
 */
async function toBatches(body: Buffer): Promise<SourceRecord[][]> {
  if (firstSignificantByte(body) === 0x5b /* [ */) {
    let values: unknown;
    try {
      values = JSON.parse(decodeJsonArray(body));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, `body starts like a JSON array but is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(values)) throw new HttpError(400, 'body must be a JSON array of records or NDJSON');
    return [values.map((value, index) => ({ line: index + 1, text: describeRecord(value), value }))];
  }
  const batches: SourceRecord[][] = [];
  for await (const batch of parseNdjson(Readable.from([body]))) batches.push(batch);
  return batches;
}

/**
 * A browser page can send requests anywhere; only the origins configured may, so a page
 * cannot write records through a user's loopback or intranet `serve`. Clients that are
 * not browsers send no `Origin` and are unaffected.
 */
function checkOrigin(request: IncomingMessage, response: ServerResponse, allowed: readonly string[]): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  if (!allowed.includes(origin))
    throw new HttpError(403, `requests from origin ${origin} are refused; allow it with HINDSIGHT_ALLOWED_ORIGINS`);
  response.setHeader('access-control-allow-origin', origin);
  response.setHeader('vary', 'origin');
}

function checkContentType(request: IncomingMessage): void {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!JSON_CONTENT_TYPES.has(type)) {
    throw new HttpError(
      415,
      `Content-Type must be application/json (a JSON array) or application/x-ndjson, not ${type === '' ? 'missing' : type}`,
    );
  }
}

/**
 * Stores the records, answering 200 with the result, or 503 with `Retry-After` once
 * `answerMs` has passed: the records go on being stored, once (./answer-deadline).
 */
async function ingestAndAnswer(
  request: IncomingMessage,
  response: ServerResponse,
  work: Promise<Awaited<ReturnType<typeof ingestRecords>>>,
  timeouts: ServeTimeouts,
  pending: PendingWork,
): Promise<void> {
  const outcome = await awaitWithinDeadline(request, response, work, timeouts, pending, (error) =>
    process.stderr.write(`serve: a batch answered 503 while still being stored then failed: ${describeFailure(error)}\n`),
  );
  if (outcome !== 'late') {
    const { rejects_file: _none, ...document } = outcome.value;
    send(response, 200, document);
    return;
  }
  const retryAfter = Math.max(1, Math.ceil(timeouts.answerMs / 1000));
  send(
    response,
    503,
    {
      error:
        `the records are still being stored after ${timeouts.answerMs} ms; send the same batch again in ${retryAfter} s: ` +
        'records already stored count as duplicates, none is stored twice',
    },
    { 'retry-after': String(retryAfter) },
  );
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: IngestServerOptions,
  timeouts: ServeTimeouts,
  pending: PendingWork,
): Promise<void> {
  checkOrigin(request, response, options.allowedOrigins ?? []);
  if (request.method === 'OPTIONS' && request.headers.origin !== undefined) {
    // A preflight from an allowed origin (checkOrigin refused the others).
    response.writeHead(204, {
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': 'authorization, content-type, content-encoding',
      'access-control-max-age': '600',
    });
    response.end();
    return;
  }
  const url = new URL(request.url ?? '/', 'http://hindsight');
  if (url.pathname === '/healthz') {
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, 'use GET /healthz', { allow: 'GET, HEAD' });
    await options.db.raw('select 1');
    send(response, 200, { status: 'ok' });
    return;
  }
  if (url.pathname === '/metrics' && options.metrics) {
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new HttpError(405, 'use GET /metrics', { allow: 'GET, HEAD' });
    checkToken(request, options.token);
    const body = await options.metrics.render();
    response.writeHead(200, { 'content-type': options.metrics.contentType, 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
    return;
  }
  const match = /^\/v1\/([a-z]+)$/.exec(url.pathname);
  const kind = match?.[1];
  if (!kind || !(RECORD_KINDS as readonly string[]).includes(kind))
    throw new HttpError(
      404,
      `no such endpoint ${request.method} ${url.pathname}; this server has ${ENDPOINTS}${options.metrics ? ', GET /metrics' : ''} and GET /healthz`,
    );
  if (request.method !== 'POST') throw new HttpError(405, `use POST /v1/${kind}`, { allow: 'POST' });
  checkToken(request, options.token);
  checkContentType(request);
  const body = await readBody(request, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  if (body.length === 0) throw new HttpError(400, 'empty body: send a JSON array of records or NDJSON');
  const batches = await toBatches(body);
  await ingestAndAnswer(request, response, ingestRecords(options.db, kind as RecordKind, batches), timeouts, pending);
}

/**
 * A failure that is not the request's fault is a 503 that invites a retry; a value the
 * database refused (SQLSTATE class 22, data exception) would fail again, so it is a 422.
 * Either way the message names the SQLSTATE, never the SQL.
 */
function answerFailure(response: ServerResponse, error: unknown): void {
  if (error instanceof HttpError) {
    send(response, error.status, { error: error.message }, error.headers);
    return;
  }
  // An ingest that stopped carries the database's error as its cause.
  const cause = error instanceof IngestAbortedError ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('22')) {
    send(response, 422, {
      error: `a record holds a value the database refused (${describeFailure(error)}); fix the records, retrying will not help`,
    });
    return;
  }
  process.stderr.write(`serve: ${error instanceof Error ? error.stack : String(error)}\n`);
  send(response, 503, {
    error: `could not store the records (${describeFailure(error)}); nothing is lost by retrying: ingest is idempotent`,
  });
}

/**
 * `hindsight serve`: HTTP ingestion for model services in any language, with the same
 * validation, identity rules and result document as `hindsight ingest`. Refuses to listen
 * beyond loopback without a token, so records cannot be written by anyone who can reach it.
 */
export async function startIngestServer(options: IngestServerOptions): Promise<IngestServer> {
  if (!options.token && !isLoopback(options.host)) {
    throw new ServeConfigError(
      `serve: HINDSIGHT_API_TOKEN must be set to listen on ${options.host}; without a token only loopback (127.0.0.1) is allowed`,
    );
  }
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const pending: PendingWork = new Set();
  const server: Server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // How often the header and request timeouts are enforced (Node's default is 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, timeouts.headersMs / 2)),
    },
    (request, response) => {
      handle(request, response, options, timeouts, pending).catch((error: unknown) => answerFailure(response, error));
    },
  );
  server.setTimeout(timeouts.idleMs, (socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
      // Batches answered 503 while still being stored finish before the database closes.
      await Promise.allSettled([...pending]);
    },
  };
}
