import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { replayWorkerOptions } from '../../workers/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * A history recorded from a real run (provisional checkpoint, final, one late-label revision;
 * re-record with HINDSIGHT_RECORD_HISTORY=1 on the lifecycle integration test). If a change to
 * cohortLifecycle breaks replay of running cohorts, this fails: guard the change with patched().
 */
describe('cohortLifecycle replay', () => {
  it('replays the recorded provisional → final → revised history deterministically', async () => {
    const file = path.join(__dirname, '..', 'fixtures', 'histories', 'cohort-lifecycle.history.bin');
    const history = temporal.api.history.v1.History.decode(await readFile(file));
    expect(history.events?.length).toBeGreaterThan(20);
    await expect(Worker.runReplayHistory(replayWorkerOptions(), history, 'recorded-cohort')).resolves.toBeUndefined();
  });
});
