import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../sql/migrate';
import { createDatabase } from '../../workers/database';

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS = path.join(__dirname, '..', '..', 'sql', 'migrations');
const name = `hindsight_test_m012_${randomBytes(3).toString('hex')}`;
const db = createDatabase(ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`));

afterAll(async () => {
  await db.destroy();
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`drop database if exists "${name}" with (force)`).finally(() => admin.destroy());
});

describe('migration 012 on an outbox queued before secrets were kept by reference', () => {
  it("keeps only each receiver's scheme, host and path: user info and query strings are gone", async () => {
    const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
    await admin.raw(`create database "${name}"`).finally(() => admin.destroy());
    const before = await mkdtemp(path.join(os.tmpdir(), 'hindsight-migrations-'));
    for (const file of (await readdir(MIGRATIONS)).filter((f) => f < '012'))
      await copyFile(path.join(MIGRATIONS, file), path.join(before, file));
    await migrate(db, before);
    await db('monitoring_policies').insert({ name: 'p', version: 1, model_name: 'm', policy: {}, content_hash: 'h' });
    const [{ alert_id }] = await db('alerts')
      .insert({
        dedup_key: 'p/r/overall',
        policy_name: 'p',
        policy_version: 1,
        rule_name: 'r',
        rule_kind: 'floor',
        model_name: 'm',
        severity: 'critical',
        state: 'firing',
        runbook: 'docs/runbooks/floor.md',
        fired_at: new Date(),
        updated_at: new Date(),
      })
      .returning('alert_id');
    const urls = {
      k1: 'https://user:s3cret@hooks.example.com:8443/services/a/b?token=abc#frag',
      k2: 'https://hooks.example.com/path?api_key=abc',
      k3: 'http://127.0.0.1:9000/plain',
    };
    for (const [key, url] of Object.entries(urls)) {
      await db('alert_notifications').insert({
        idempotency_key: key,
        alert_id,
        transition: 'firing',
        url,
        payload: {},
        destination: 'webhook/x',
      });
    }

    expect((await migrate(db)).applied).toContain('012_redact_notification_urls.sql');
    const rows = await db('alert_notifications').orderBy('idempotency_key').pluck('url');
    expect(rows).toEqual(['https://hooks.example.com:8443/services/a/b', 'https://hooks.example.com/path', 'http://127.0.0.1:9000/plain']);
  });
});
