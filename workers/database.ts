import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import type { Env } from './env';

// Counts come back as int8; they fit a JS number for any realistic cohort.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value: string) => Number(value));

export interface DatabaseOptions {
  /** The embedded PGlite server takes one connection at a time, so its pool is 1. */
  maxConnections?: number;
  applicationName?: string;
}

/**
 * knex logs to stdout by default, where a command's --json document goes: its one-line warnings
 * go to stderr. A failed connection is not logged: knex throws it to the caller as well, whose
 * message names the server (cli/failure-messages.ts), and its log line is a raw Node error.
 */
function logToStderr(message: unknown): void {
  const line = String(message).split('\n')[0]!;
  if (line.startsWith('Acquire connection error')) return;
  process.stderr.write(`knex: ${line}\n`);
}

/** A knex pool whose sessions all run in UTC, so every timestamp we format is UTC. */
export function createDatabase(url: string, options: DatabaseOptions = {}): Knex {
  return knex({
    client: 'pg',
    log: { warn: logToStderr, error: logToStderr, deprecate: logToStderr, debug: logToStderr },
    connection: { connectionString: url, application_name: options.applicationName ?? 'hindsight' },
    pool: {
      min: 0,
      max: options.maxConnections ?? 10,
      afterCreate(conn: pg.Client, done: (error: Error | null, conn: pg.Client) => void) {
        conn.query("set time zone 'UTC'", (error) => done(error ?? null, conn));
      },
    },
  });
}

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  maxConnections: number;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL` when set; otherwise an embedded PGlite served over the wire protocol,
 * its data kept under the state directory so the demo survives restarts.
 */
export async function openDatabaseServer(env: Env, port = 0): Promise<DatabaseHandle> {
  if (env.DATABASE_URL) {
    return { url: env.DATABASE_URL, embedded: false, maxConnections: 10, stop: async () => {} };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dataDir = path.resolve(env.HINDSIGHT_STATE_DIR, 'pglite');
  await mkdir(dataDir, { recursive: true });
  const lockFile = lockEmbeddedDatabase(dataDir);
  const db = await PGlite.create({ dataDir });
  // The server's query queue keeps a transaction's statements together, so commands in other
  // terminals can share the database while `hindsight dev` runs.
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 16 });
  await server.start();
  const address = server.getServerConn();
  return {
    url: `postgres://postgres@${address}/postgres?sslmode=disable`,
    embedded: true,
    maxConnections: 1,
    async stop() {
      await server.stop();
      await db.close();
      await rm(lockFile, { force: true });
    },
  };
}

/**
 * PGlite is a single-process database: a second process opening the same data directory
 * corrupts it. A pid lock file makes the second one fail with a message instead.
 */
function lockEmbeddedDatabase(dataDir: string): string {
  const lockFile = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return lockFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lockFile, 'utf8'));
      if (isProcessAlive(holder)) {
        throw new Error(
          `the embedded database ${dataDir} is in use by process ${holder} (a running \`hindsight dev\`?); ` +
            'wait until it prints "worker running" so commands can share it, or set DATABASE_URL',
        );
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`cannot lock ${lockFile}`);
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
