import { Client, Connection } from '@temporalio/client';
import type { Knex } from 'knex';
import { loadEnv, type Env } from '../workers/env';
import { openDatabaseSession, resolveTemporalAddress } from '../workers/services';

/** Runs `work` with a database for the duration of one command, closing it afterwards. */
export async function withDatabase<T>(work: (db: Knex, env: Env) => Promise<T>): Promise<T> {
  const env = loadEnv();
  const session = await openDatabaseSession(env);
  try {
    return await work(session.db, env);
  } finally {
    await session.close();
  }
}

/** Runs `work` with a Temporal client (TEMPORAL_ADDRESS, else a running `hindsight dev`'s server). */
export async function withTemporalClient<T>(env: Env, work: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: resolveTemporalAddress(env) });
  try {
    return await work(new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }));
  } finally {
    await connection.close();
  }
}
