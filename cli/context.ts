import { connect } from 'node:net';
import type { Client, Connection } from '@temporalio/client';
import type { Knex } from 'knex';
import type { Env } from '../workers/env';
import { TemporalUnreachableError, type Endpoints } from './failure-messages';

// The Temporal client, the database driver and the services are loaded when a command first
// needs them, so a command that needs neither (or `--help`) does not pay for them.

/** The servers this command used, so a failure's message can name them (cli/failure-messages.ts). */
const endpoints: Endpoints = {};

export function usedEndpoints(): Endpoints {
  return { ...endpoints };
}

/** Forgets the servers a previous command used (the command line runs more than once in a test's process). */
export function forgetEndpoints(): void {
  delete endpoints.temporal;
  delete endpoints.database;
}

/** `host:port` of a postgres:// URL, without its user or password. */
export function databaseAddress(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}`;
  } catch {
    return undefined;
  }
}

/** Runs `work` with a database for the duration of one command, closing it afterwards. */
export async function withDatabase<T>(work: (db: Knex, env: Env) => Promise<T>): Promise<T> {
  const [{ loadEnv }, { openDatabaseSession }] = await Promise.all([import('../workers/env.js'), import('../workers/services.js')]);
  const env = loadEnv();
  const session = await openDatabaseSession(env);
  endpoints.database = databaseAddress(session.url);
  try {
    return await work(session.db, env);
  } finally {
    await session.close();
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Opens a TCP connection to `address` and closes it: a refused port or an unknown host is
 * known at once, where the gRPC client would wait out its 10 s connect deadline to say only
 * "Failed to connect before the deadline". Anything else (slow, filtered) is left to the client.
 */
export function probeAddress(address: string, timeoutMs = 3_000): Promise<void> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const done = (error?: Error) => {
      socket.destroy();
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      if (code && UNREACHABLE.has(code)) reject(new TemporalUnreachableError(address, code));
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done());
    socket.once('connect', () => done());
    socket.once('error', done);
  });
}

/** A client connection to the Temporal server at `address`, or a {@link TemporalUnreachableError} at once for a closed port. */
export async function connectTemporal(address: string): Promise<Connection> {
  endpoints.temporal = address;
  await probeAddress(address);
  const { Connection } = await import('@temporalio/client');
  return Connection.connect({ address });
}

/** Runs `work` with a Temporal client (TEMPORAL_ADDRESS, else a running `hindsight dev`'s server). */
export async function withTemporalClient<T>(env: Env, work: (client: Client) => Promise<T>): Promise<T> {
  const { resolveTemporalAddress } = await import('../workers/services.js');
  const connection = await connectTemporal(resolveTemporalAddress(env));
  try {
    const { Client } = await import('@temporalio/client');
    return await work(new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }));
  } finally {
    await connection.close();
  }
}
