import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabaseServer } from '../../../workers/database';
import { loadEnv } from '../../../workers/env';

describe('embedded database (PGlite over the wire protocol)', () => {
  it('refuses a second process while a live one holds the data directory, naming it', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-lock-'));
    await writeFile(path.join(stateDir, 'pglite.lock'), String(process.ppid));
    await expect(openDatabaseServer(loadEnv({ HINDSIGHT_STATE_DIR: stateDir }))).rejects.toThrow(
      new RegExp(`in use by process ${process.ppid}.*DATABASE_URL`),
    );
  });

  it('takes over a stale lock and serves SQL to a wire-protocol client', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-lock-'));
    await writeFile(path.join(stateDir, 'pglite.lock'), '999999999');
    const handle = await openDatabaseServer(loadEnv({ HINDSIGHT_STATE_DIR: stateDir }));
    try {
      expect(handle.embedded).toBe(true);
      const { Client } = await import('pg');
      const client = new Client({ connectionString: handle.url });
      await client.connect();
      const { rows } = await client.query('select 40 + 2 as answer');
      await client.end();
      expect(rows[0].answer).toBe(42);
    } finally {
      await handle.stop();
    }
  });
});
