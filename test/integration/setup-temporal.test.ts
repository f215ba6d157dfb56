import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { ensureTemporalCli, startDevServer, type DevServer } from '../../workers/temporal-dev-server';
import { useTestDatabase } from '../support/database';
import { runHindsight } from '../support/run-cli';

const testDb = useTestDatabase();

describe('hindsight setup-temporal on a server that Hindsight did not start', () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await startDevServer({ cliPath: ensureTemporalCli(), port: 0, uiPort: false, searchAttributes: false });
  });
  afterAll(async () => server?.stop());

  it('explains the missing search attributes, registers them, and is idempotent', async () => {
    const hindsight = (args: string[]) => runHindsight(args, { DATABASE_URL: testDb.url, TEMPORAL_ADDRESS: server.address });
    await putLabelDefinition(testDb.db, {
      name: 'cb',
      version: 1,
      model_name: 'm',
      task: 'binary',
      window: 'PT10S',
      positive_outcome_types: ['chargeback'],
    });
    const cohort = [
      'cohort',
      'start',
      '--model',
      'm',
      '--version',
      '1',
      '--from',
      '2026-01-01T00:00:00Z',
      '--to',
      '2026-01-02T00:00:00Z',
      '--label-definition',
      'cb',
      '--json',
    ];

    const refused = await hindsight(cohort);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("does not know Hindsight's search attributes");
    expect(refused.stderr).toContain('npx hindsight setup-temporal');

    const first = await hindsight(['setup-temporal', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const names = ['ModelName', 'ModelVersion', 'Environment', 'LabelDefinition', 'CohortStart', 'CohortEnd', 'LifecycleStage'];
    expect(JSON.parse(first.stdout)).toMatchObject({ namespace: 'default', added: names, already_registered: [] });
    const second = await hindsight(['setup-temporal', '--json']);
    expect(JSON.parse(second.stdout)).toMatchObject({ added: [], already_registered: names });

    const started = await hindsight(cohort);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ already_started: false });
  });
});
