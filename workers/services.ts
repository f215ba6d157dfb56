import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { createDatabase, isProcessAlive, openDatabaseServer, type DatabaseHandle } from './database';
import type { Env } from './env';
import { devServerSource, sdkDownloadDir, startSdkDevServer } from './sdk-dev-server';
import { ensureTemporalCli, startDevServer, type DevServer } from './temporal-dev-server';

/** What a running `hindsight dev` publishes so other commands on this machine can find it. */
export interface DevState {
  pid: number;
  databaseUrl: string;
  embeddedDatabase: boolean;
  temporalAddress: string;
  temporalUiUrl: string | null;
}

export function devStatePath(env: Env): string {
  return path.resolve(env.HINDSIGHT_STATE_DIR, 'dev.json');
}

/** The state of a `hindsight dev` that is still running, if any. */
export function readDevState(env: Env): DevState | undefined {
  const file = devStatePath(env);
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as DevState;
  return isProcessAlive(state.pid) ? state : undefined;
}

export async function writeDevState(env: Env, state: DevState): Promise<void> {
  await mkdir(path.dirname(devStatePath(env)), { recursive: true });
  await writeFile(devStatePath(env), `${JSON.stringify(state, null, 2)}\n`);
}

export async function removeDevState(env: Env): Promise<void> {
  await rm(devStatePath(env), { force: true });
}

export interface DatabaseSession {
  db: Knex;
  url: string;
  close(): Promise<void>;
}

/**
 * A database for one command: `DATABASE_URL`; else the embedded one a running
 * `hindsight dev` serves; else an embedded PGlite opened for this command alone.
 */
export async function openDatabaseSession(env: Env): Promise<DatabaseSession> {
  const dev = env.DATABASE_URL ? undefined : readDevState(env);
  let handle: DatabaseHandle;
  if (dev) handle = { url: dev.databaseUrl, embedded: dev.embeddedDatabase, maxConnections: 1, stop: async () => {} };
  else handle = await openDatabaseServer(env);
  const db = createDatabase(handle.url, { maxConnections: handle.maxConnections });
  return {
    db,
    url: handle.url,
    async close() {
      await db.destroy();
      await handle.stop();
    },
  };
}

/** `TEMPORAL_ADDRESS`, else the dev server a running `hindsight dev` started. */
export function resolveTemporalAddress(env: Env): string {
  if (env.TEMPORAL_ADDRESS) return env.TEMPORAL_ADDRESS;
  const dev = readDevState(env);
  if (dev) return dev.temporalAddress;
  throw new Error('no Temporal server: set TEMPORAL_ADDRESS=host:port, or run `npx hindsight dev` in another terminal');
}

/** `TEMPORAL_ADDRESS` when set; otherwise a dev server (built if needed) with its state under the state dir. */
export async function openTemporal(
  env: Env,
  log: (line: string) => void,
  ports: { port?: number; uiPort?: number } = {},
): Promise<DevServer> {
  if (env.TEMPORAL_ADDRESS) return { address: env.TEMPORAL_ADDRESS, uiUrl: undefined, stop: async () => {} };
  const stateDir = path.resolve(env.HINDSIGHT_STATE_DIR);
  const settings = { port: ports.port ?? 7233, uiPort: ports.uiPort ?? 8233, dbFile: path.join(stateDir, 'temporal.db') };
  const source = devServerSource();
  if (source.kind === 'sdk-download') {
    log(`no Temporal CLI found and no Go to build one: starting the dev server the Temporal SDK downloads (cached in ${sdkDownloadDir()})`);
    return startSdkDevServer(settings);
  }
  const cliPath = source.kind === 'cli' ? source.path : ensureTemporalCli(log);
  return startDevServer({ cliPath, ...settings, logFile: path.join(stateDir, 'temporal.log') });
}

/** The services `hindsight dev` and `hindsight demo` run on, with a pool on the database. */
export interface RunningServices {
  db: Knex;
  databaseUrl: string;
  embeddedDatabase: boolean;
  temporalAddress: string;
  uiUrl: string | null;
  /** Closes the pool, then stops whatever was started here. */
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL`, else an embedded PGlite on `ports.db`; `TEMPORAL_ADDRESS`, else a dev server
 * on `ports.temporal` with its Web UI on `ports.ui`. A Temporal that fails to start stops the
 * database that was started for it.
 */
export async function startServices(
  env: Env,
  ports: { db?: number; temporal?: number; ui?: number },
  log: (line: string) => void,
): Promise<RunningServices> {
  const database = await openDatabaseServer(env, ports.db);
  let temporal: DevServer;
  try {
    temporal = await openTemporal(env, log, { port: ports.temporal, uiPort: ports.ui });
  } catch (error) {
    await database.stop();
    throw error;
  }
  const db = createDatabase(database.url, { maxConnections: database.maxConnections });
  return {
    db,
    databaseUrl: database.url,
    embeddedDatabase: database.embedded,
    temporalAddress: temporal.address,
    uiUrl: temporal.uiUrl ?? null,
    async stop() {
      await db.destroy();
      await temporal.stop();
      await database.stop();
    },
  };
}
