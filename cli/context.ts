import type { Knex } from 'knex';
import { loadEnv, type Env } from '../workers/env';
import { openDatabaseSession } from '../workers/services';

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
