import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../sql/migrate';
import { createDatabase } from '../../workers/database';

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS = path.join(__dirname, '..', '..', 'sql', 'migrations');
const name = `hindsight_test_m004_${randomBytes(3).toString('hex')}`;
const db = createDatabase(ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`));

afterAll(async () => {
  await db.destroy();
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`drop database if exists "${name}" with (force)`).finally(() => admin.destroy());
});

describe('migration 004 on a database with label definitions', () => {
  it('gives each model that already has a binary definition the range [0, 1], from its first one', async () => {
    const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
    await admin.raw(`create database "${name}"`).finally(() => admin.destroy());
    // The database as it was before migration 004.
    const before = await mkdtemp(path.join(os.tmpdir(), 'hindsight-migrations-'));
    for (const file of (await readdir(MIGRATIONS)).filter((f) => f < '004'))
      await copyFile(path.join(MIGRATIONS, file), path.join(before, file));
    await migrate(db, before);
    const definition = (name: string, model: string, task: string) => ({
      name,
      version: 1,
      model_name: model,
      task,
      definition: {},
      content_hash: name,
    });
    await db('label_definitions').insert(definition('fraud-a', 'fraud', 'binary'));
    await db('label_definitions').insert([definition('fraud-b', 'fraud', 'binary'), definition('ltv', 'ltv', 'regression')]);

    // Migration 004 alone: later migrations are not what this test is about.
    const through004 = await mkdtemp(path.join(os.tmpdir(), 'hindsight-migrations-'));
    for (const file of (await readdir(MIGRATIONS)).filter((f) => f < '005'))
      await copyFile(path.join(MIGRATIONS, file), path.join(through004, file));
    expect((await migrate(db, through004)).applied).toEqual(['004_model_score_ranges.sql']);
    expect(await db('model_score_ranges').select('model_name', 'min_score', 'max_score', 'label_definition_name')).toEqual([
      { model_name: 'fraud', min_score: 0, max_score: 1, label_definition_name: 'fraud-a' },
    ]);
  });
});
