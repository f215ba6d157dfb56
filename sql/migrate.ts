import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';

const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'sql', 'migrations');
// An arbitrary constant that all Hindsight processes agree on, so two `migrate` runs serialize.
const MIGRATION_LOCK_KEY = 7_312_001;

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

async function listMigrationFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => /^\d{3}_[a-z0-9_]+\.sql$/.test(name));
  return names.sort();
}

/**
 * Applies the numbered, forward-only migrations in `sql/migrations` that this database
 * has not seen, each in its own transaction. Safe to run twice or concurrently.
 */
export async function migrate(db: Knex, dir = resolveMigrationsDir()): Promise<MigrationResult> {
  const files = await listMigrationFiles(dir);
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(:key)', { key: MIGRATION_LOCK_KEY });
    await trx.raw(`create table if not exists hindsight_migrations (
      id integer primary key, name text not null, applied_at timestamptz not null default now())`);
    const done = new Set<number>((await trx('hindsight_migrations').select('id')).map((row: { id: number }) => row.id));
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    for (const file of files) {
      const id = Number(file.slice(0, 3));
      if (done.has(id)) {
        result.alreadyApplied.push(file);
        continue;
      }
      const sql = await readFile(path.join(dir, file), 'utf8');
      await trx.raw(sql);
      await trx('hindsight_migrations').insert({ id, name: file });
      result.applied.push(file);
    }
    return result;
  });
}

/** Works both from the TypeScript sources (tests) and from the compiled `dist/` tree. */
function resolveMigrationsDir(): string {
  const fromSource = path.join(__dirname, 'migrations');
  return __dirname.includes(`${path.sep}dist${path.sep}`) ? MIGRATIONS_DIR : fromSource;
}
