import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, onTestFailed } from 'vitest';
import { migrate } from '../../sql/migrate';
import { createDatabase } from '../../workers/database';

/** The machine's PostgreSQL (trust auth); override with TEST_DATABASE_ADMIN_URL. */
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  db: Knex;
  url: string;
  name: string;
  /** Call from a test to keep the database for inspection when that test fails. */
  keepOnFailure(): void;
}

/**
 * A fresh, migrated database for one test file, dropped afterwards unless a test that
 * asked for it failed (then its name is printed so the state can be inspected).
 */
export function useTestDatabase(): TestDatabase {
  const name = `hindsight_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  let failed = false;
  const handle: TestDatabase = {
    db: undefined as unknown as Knex,
    url,
    name,
    keepOnFailure() {
      onTestFailed(() => {
        failed = true;
      });
    },
  };
  beforeAll(async () => {
    const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
    try {
      await admin.raw(`create database "${name}"`);
    } finally {
      await admin.destroy();
    }
    handle.db = createDatabase(url);
    await migrate(handle.db);
  });
  afterAll(async () => {
    await handle.db?.destroy();
    if (failed) {
      process.stderr.write(`kept test database ${name} for inspection\n`);
      return;
    }
    const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
    try {
      await admin.raw(`drop database if exists "${name}" with (force)`);
    } finally {
      await admin.destroy();
    }
  });
  return handle;
}
