import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadCohort } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { startCohortLifecycle } from '../../control/start-cohort';
import { cohortLifecycle, evaluateNowUpdate, getStatusQuery } from '../../workflows';
import { useTestDatabase } from '../support/database';
import { runHindsight } from '../support/run-cli';
import { historySummaries, recordHistory, replay, startTestWorker, waitFor, type TestWorker } from '../support/temporal';

Runtime.install({ logger: new DefaultLogger('WARN') });
const testDb = useTestDatabase();

const hindsight = (args: string[]) => runHindsight(args, { DATABASE_URL: testDb.url, TEMPORAL_ADDRESS: inject('temporalAddress') });

describe('evaluateNow on a running cohort', () => {
  let worker: TestWorker;
  beforeAll(async () => {
    worker = await startTestWorker(testDb.db);
  });
  afterAll(async () => worker?.stop());

  it('stores adhoc snapshots as of now with their own revisions, leaves the planned checkpoints alone and is refused once closed', async () => {
    testDb.keepOnFailure();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-now-'));
    const end = Math.ceil(Date.now() / 1000) * 1000 + 1_000;
    const start = end - 10_000;
    const predictions = Array.from({ length: 30 }, (_, i) => ({
      prediction_id: randomUUID(),
      model_name: 'fraud-now',
      model_version: 'v1',
      environment: 'production',
      ts_pred: new Date(start + 300 * i).toISOString(),
      score: ((i * 7) % 30) / 30,
    }));
    const file = async (name: string, rows: object[]) => {
      const target = path.join(dir, `${name}.ndjson`);
      await writeFile(target, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
      return target;
    };
    await ingestNdjsonFile(testDb.db, 'predictions', await file('predictions', predictions));
    const chargebacks = (from: number, to: number) =>
      predictions
        .slice(from, to)
        .filter((_, i) => i % 2 === 0)
        .map((p) => ({
          outcome_id: `cb-${p.prediction_id}`,
          prediction_id: p.prediction_id,
          outcome_type: 'chargeback',
          ts_event: new Date(Date.parse(p.ts_pred) + 100).toISOString(),
        }));
    await ingestNdjsonFile(testDb.db, 'outcomes', await file('first', chargebacks(0, 10)));

    const { definition } = await putLabelDefinition(testDb.db, {
      name: 'chargeback-now',
      version: 1,
      model_name: 'fraud-now',
      task: 'binary',
      window: 'PT12S',
      checkpoints: ['PT8S'],
      positive_outcome_types: ['chargeback'],
      late_label_grace: 'PT2S',
    });
    const selector = {
      model_name: 'fraud-now',
      model_version: 'v1',
      environment: 'production',
      start: new Date(start).toISOString(),
      end: new Date(end).toISOString(),
    };
    const { cohort_id: cohortId } = await startCohortLifecycle(worker.client, worker.taskQueue, selector, definition, {
      lateLabelChecks: 1,
    });
    const handle = worker.client.workflow.getHandle<typeof cohortLifecycle>(cohortId);
    await waitFor(
      async () => ((await handle.query(getStatusQuery)).phase === 'waiting_for_checkpoint' ? true : undefined),
      20_000,
      'the checkpoint wait',
    );

    const first = await handle.executeUpdate(evaluateNowUpdate);
    await ingestNdjsonFile(testDb.db, 'outcomes', await file('second', chargebacks(10, 30)));
    const second = await handle.executeUpdate(evaluateNowUpdate);
    expect([first.checkpoint, first.revision, second.checkpoint, second.revision]).toEqual(['adhoc', 1, 'adhoc', 2]);
    expect(Date.parse(first.asOf)).toBeLessThan(end + 8_000);
    expect(second.nLabeled).toBe(first.nLabeled);

    // Each adhoc snapshot is exactly the evaluation as of its own moment.
    const { record } = await loadCohort(testDb.db, cohortId);
    for (const summary of [first, second]) {
      const stored = await testDb.db('metric_snapshots').where({ snapshot_id: summary.snapshotId }).first();
      const expected = await evaluateCohort(testDb.db, record, definition, summary.asOf);
      expect(stored.document.overall).toEqual(expected.overall);
      expect(stored.document.join).toEqual(expected.join);
    }
    const positives = async (id: number) =>
      (await testDb.db('metric_snapshots').where({ snapshot_id: id }).first()).document.overall.n_positive;
    expect(await positives(second.snapshotId)).toBeGreaterThan(await positives(first.snapshotId));

    const result = await handle.result();
    // The planned checkpoints ran on their own schedule, as of their own moments.
    expect(result.snapshots.map((s) => [s.checkpoint, s.revision, s.asOf])).toEqual([
      ['adhoc', 1, first.asOf],
      ['adhoc', 2, second.asOf],
      ['PT8S', 1, new Date(end + 8_000).toISOString()],
      ['final', 1, new Date(end + 12_000).toISOString()],
    ]);
    const history = await handle.fetchHistory();
    expect(historySummaries(history).filter((s) => s.startsWith('evaluate now'))).toEqual([
      `evaluate now (adhoc revision 1) as of ${first.asOf.replace(/\.(\d{3})Z$/, (m, ms) => (ms === '000' ? 'Z' : m))}`,
      `evaluate now (adhoc revision 2) as of ${second.asOf.replace(/\.(\d{3})Z$/, (m, ms) => (ms === '000' ? 'Z' : m))}`,
    ]);
    await replay(history, cohortId);
    await recordHistory('cohort-lifecycle-evaluate-now', history);

    const refused = await hindsight(['cohort', 'evaluate-now', cohortId, '--json']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is completed: evaluate-now needs a running cohort');
    expect(refused.stderr).not.toMatch(/select|insert/i);

    // The human status shows the headline quality numbers of each snapshot.
    const status = await hindsight(['cohort', 'status', cohortId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/adhoc r2 as of .*: n=30 labeled=\d+ roc_auc=0\.\d{4} brier=0\.\d{4} recall=[\d.]+ label_availability=/);
    expect(status.stdout).toMatch(/final r1 as of .*roc_auc=/);
  });
});
