import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { checkStalledFeeds } from '../../activities/monitoring/feeds';
import { putPolicy } from '../../activities/monitoring/policy';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

const testDb = useTestDatabase();
const hindsight = (args: string[]) => runHindsightInProcess(args, { DATABASE_URL: testDb.url });

const review = (id: string, received: string) => ({
  outcome_id: id,
  prediction_id: null,
  entity_ids: { user_id: id },
  outcome_type: 'review',
  ts_event: received,
  ts_received: received,
});

describe('stalled label feeds and the policy command', () => {
  it('fires when a feed has been silent longer than max_silence, resolves when it resumes, and queues both for the webhook', async () => {
    await putLabelDefinition(testDb.db, {
      name: 'review-feed',
      version: 1,
      model_name: 'fraud-feed',
      task: 'binary',
      window: 'P7D',
      positive_outcome_types: ['review'],
    });
    await putPolicy(testDb.db, {
      name: 'feed-policy',
      version: 1,
      model_name: 'fraud-feed',
      label_definition: 'review-feed',
      rules: [{ name: 'reviews-flowing', kind: 'stalled_feed', max_silence: 'PT6H' }],
      notifications: { webhook: { url: 'http://127.0.0.1:9/alerts' } },
    });
    await storeRows(testDb.db, 'outcomes', [review('r1', '2026-06-01T00:00:00Z'), review('r2', '2026-06-01T02:00:00Z')]);

    const quiet = await checkStalledFeeds(testDb.db, { policy: 'feed-policy', now: '2026-06-01T07:59:00Z' });
    expect(quiet.checks).toEqual([
      {
        rule: 'reviews-flowing',
        outcome_type: 'review',
        last_received: '2026-06-01T02:00:00.000Z',
        silent_for_seconds: 5 * 3600 + 59 * 60,
        state: 'ok',
      },
    ]);
    const stalled = await checkStalledFeeds(testDb.db, { policy: 'feed-policy', now: '2026-06-01T08:01:00Z' });
    expect(stalled.checks[0]!.state).toBe('firing');
    // Checking again while it is still silent changes nothing and notifies nobody again.
    expect((await checkStalledFeeds(testDb.db, { policy: 'feed-policy', now: '2026-06-01T09:00:00Z' })).notifications).toBe(0);

    await storeRows(testDb.db, 'outcomes', [review('r3', '2026-06-01T09:30:00Z')]);
    const resumed = await checkStalledFeeds(testDb.db, { policy: 'feed-policy', now: '2026-06-01T09:31:00Z' });
    expect(resumed.checks[0]!.state).toBe('ok');

    const alerts = await testDb
      .db('alerts')
      .select('rule_kind', 'slice_dimension', 'slice_value', 'state', 'cohort_id', 'fired_at', 'cleared_at');
    expect(alerts).toEqual([
      {
        rule_kind: 'stalled_feed',
        slice_dimension: 'outcome_type',
        slice_value: 'review',
        state: 'resolved',
        cohort_id: null,
        fired_at: new Date('2026-06-01T08:01:00Z'),
        cleared_at: new Date('2026-06-01T09:31:00Z'),
      },
    ]);
    const queued = await testDb.db('alert_notifications').orderBy('created_at').select('transition', 'delivered_at');
    expect(queued).toEqual([
      { transition: 'firing', delivered_at: null },
      { transition: 'resolved', delivered_at: null },
    ]);
  });

  it('policy put names the file and the field of a bad rule, stores a good one once, and refuses other content under its version', async () => {
    await putLabelDefinition(testDb.db, {
      name: 'review-cli',
      version: 1,
      model_name: 'fraud-cli',
      task: 'binary',
      window: 'P7D',
      positive_outcome_types: ['review'],
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-policy-'));
    const file = async (name: string, content: object) => {
      const target = path.join(dir, name);
      await writeFile(target, JSON.stringify(content));
      return target;
    };
    const policy = {
      name: 'cli-policy',
      version: 1,
      model_name: 'fraud-cli',
      label_definition: 'review-cli',
      rules: [{ name: 'r', kind: 'floor', metric: 'recall', min: 0.5 }],
    };

    const bad = await file('bad.json', {
      ...policy,
      rules: [
        { name: 'r', kind: 'floor', metric: 'recal', min: 0.5 },
        { name: 'r', kind: 'ceiling', metric: 'brier', max: 0.2 },
      ],
    });
    const refused = await hindsight(['policy', 'put', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}: rules.0.metric:`);
    expect(refused.stderr).not.toMatch(/insert|select/i);

    const unknownDefinition = await hindsight(['policy', 'put', await file('nodef.json', { ...policy, label_definition: 'missing' })]);
    expect(unknownDefinition.stderr).toContain('label_definition: missing not found');

    const good = await file('good.json', policy);
    expect(JSON.parse((await hindsight(['policy', 'put', good, '--json'])).stdout)).toEqual({
      outcome: 'created',
      name: 'cli-policy',
      version: 1,
      rules: 1,
    });
    expect(JSON.parse((await hindsight(['policy', 'put', good, '--json'])).stdout).outcome).toBe('unchanged');
    const changed = await hindsight([
      'policy',
      'put',
      await file('changed.json', { ...policy, rules: [{ name: 'r', kind: 'floor', metric: 'recall', min: 0.6 }] }),
    ]);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('cli-policy@1 already exists with different content');

    const shown = JSON.parse((await hindsight(['policy', 'show', 'cli-policy', '--json'])).stdout);
    expect(shown.rules[0]).toMatchObject({ name: 'r', kind: 'floor', severity: 'warning', min_slice_size: 100, alpha: 0.05, slices: [] });
    const listed = JSON.parse((await hindsight(['policy', 'list', '--json'])).stdout);
    expect(listed.map((p: { name: string; version: number }) => `${p.name}@${p.version}`)).toContain('cli-policy@1');
  });
});
