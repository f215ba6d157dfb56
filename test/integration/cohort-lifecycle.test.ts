import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cohortIdFor } from '../../contracts/cohort';
import { ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { startCohortLifecycle } from '../../control/start-cohort';
import { createHindsightWorker } from '../../workers/worker';
import { cohortLifecycle, getStatusQuery } from '../../workflows';
import {
  COHORT_END,
  COHORT_START,
  ENVIRONMENT,
  LABEL_DEFINITION,
  LIFECYCLE_STAGE,
  MODEL_NAME,
  MODEL_VERSION,
} from '../../contracts/search-attributes';
import { useTestDatabase } from '../support/database';
import { historySummaries, recordHistory, replay, waitFor } from '../support/temporal';

Runtime.install({ logger: new DefaultLogger('WARN') });
const testDb = useTestDatabase();
const WINDOW_MS = 8_000;
const CHECKPOINT_MS = 3_000;
const GRACE_MS = 3_000;

interface Prediction {
  prediction_id: string;
  model_name: string;
  model_version: string;
  environment: string;
  region: string;
  ts_pred: string;
  score: number;
}

interface Outcome {
  outcome_id: string;
  prediction_id: string;
  outcome_type: string;
  ts_event: string;
  /** When the test hands the outcome to Hindsight: its ts_received is that moment. */
  deliverAt: number;
}

const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

/** Pairwise ROC AUC with ties counted ½: slow, obviously right, independent of the SQL. */
function pairwiseAuc(rows: Array<{ score: number; y: number }>): number {
  const pos = rows.filter((r) => r.y === 1);
  const neg = rows.filter((r) => r.y === 0);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p.score > n.score ? 1 : p.score === n.score ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

/** Labels as docs/label-semantics.md states them, from the test's own arrays: known = delivered by as-of, in window. */
function expectedAt(cohort: Prediction[], outcomes: Outcome[], asOf: number, delivered: (o: Outcome) => number) {
  const rows = cohort.map((p) => {
    const tsPred = Date.parse(p.ts_pred);
    const positive = outcomes.some(
      (o) =>
        o.outcome_type === 'chargeback' &&
        o.prediction_id === p.prediction_id &&
        delivered(o) <= asOf &&
        Date.parse(o.ts_event) >= tsPred &&
        Date.parse(o.ts_event) < tsPred + WINDOW_MS,
    );
    return { score: p.score, y: positive ? 1 : 0, final: positive || tsPred + WINDOW_MS <= asOf };
  });
  const nPositive = rows.filter((r) => r.y === 1).length;
  return {
    n: rows.length,
    n_positive: nPositive,
    label_availability: rows.filter((r) => r.final).length / rows.length,
    roc_auc: pairwiseAuc(rows),
    brier: rows.reduce((sum, r) => sum + (r.score - r.y) ** 2, 0) / rows.length,
  };
}

describe('cohortLifecycle on the real Temporal dev server and real Postgres', () => {
  let connection: NativeConnection;
  let clientConnection: Connection;
  let worker: Worker;
  let workerRun: Promise<void>;
  const taskQueue = `test-${randomUUID()}`;
  /** What the worker's process hears from its cohorts (`hindsight dev` prints these). */
  const events: string[] = [];

  beforeAll(async () => {
    connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    clientConnection = await Connection.connect({ address: inject('temporalAddress') });
    const listener = {
      snapshotStored: (cohortId: string, snapshot: { checkpoint: string; revision: number }) =>
        events.push(`${cohortId} ${snapshot.checkpoint}@${snapshot.revision}`),
      cohortClosed: (cohortId: string, snapshots: number) => events.push(`${cohortId} closed with ${snapshots}`),
    };
    worker = await createHindsightWorker({ connection, db: testDb.db, namespace: 'default', taskQueue, listener });
    workerRun = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await workerRun;
    await clientConnection?.close();
    await connection?.close();
  });

  it('goes provisional → final → revised, selecting exactly the cohort and counting only labels known as of each snapshot', async () => {
    testDb.keepOnFailure();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-lifecycle-'));
    const end = Math.ceil(Date.now() / 1000) * 1000 + 2_000;
    const start = end - 20_000;
    // Outcomes are delivered only after they happened: at end + 1s (known at the checkpoint),
    // after the checkpoint (known at finalization) and after finalization (a late revision).
    const EARLY = end + 1_000;
    const at = (ms: number) => new Date(ms).toISOString();

    const cohort: Prediction[] = Array.from({ length: 40 }, (_, i) => ({
      prediction_id: randomUUID(),
      model_name: 'fraud',
      model_version: 'v2',
      environment: 'production',
      region: i % 2 ? 'eu' : 'us',
      ts_pred: at(start + 500 * i),
      score: Math.round(((i * 37) % 40) * 25) / 1000,
    }));
    const outsiders: Prediction[] = [
      { ...cohort[0]!, prediction_id: randomUUID(), model_version: 'v1' },
      { ...cohort[1]!, prediction_id: randomUUID(), environment: 'staging' },
      { ...cohort[2]!, prediction_id: randomUUID(), ts_pred: at(end) },
      { ...cohort[3]!, prediction_id: randomUUID(), ts_pred: at(start - 1) },
    ];
    // Chargebacks for every third prediction, in three deliveries: before the checkpoint,
    // between the checkpoint and the final evaluation, and after finalization.
    const outcomes: Outcome[] = cohort.flatMap((p, i) => {
      if (i % 3 !== 0) return [];
      const delivery = i % 9 === 0 ? 'early' : i % 9 === 3 ? 'middle' : 'late';
      return [
        {
          outcome_id: `cb-${i}`,
          prediction_id: p.prediction_id,
          outcome_type: 'chargeback',
          ts_event: at(Date.parse(p.ts_pred) + 1_000),
          deliverAt: delivery === 'early' ? EARLY : delivery === 'middle' ? end + CHECKPOINT_MS + 1_500 : end + WINDOW_MS + 1_000,
        },
      ];
    });
    const traps: Outcome[] = [
      {
        outcome_id: 'leak',
        prediction_id: cohort[1]!.prediction_id,
        outcome_type: 'chargeback',
        ts_event: at(Date.parse(cohort[1]!.ts_pred) - 1_000),
        deliverAt: EARLY,
      },
      {
        outcome_id: 'too-late',
        prediction_id: cohort[2]!.prediction_id,
        outcome_type: 'chargeback',
        ts_event: at(Date.parse(cohort[2]!.ts_pred) + WINDOW_MS),
        deliverAt: end + CHECKPOINT_MS + 1_500,
      },
      {
        outcome_id: 'other-type',
        prediction_id: cohort[4]!.prediction_id,
        outcome_type: 'refund',
        ts_event: at(Date.parse(cohort[4]!.ts_pred) + 10),
        deliverAt: EARLY,
      },
    ];

    const predictionsFile = path.join(dir, 'predictions.ndjson');
    // A duplicate line must be stored once and not enlarge the cohort.
    const lines = [...cohort, ...outsiders, cohort[5]!].map((p) => JSON.stringify(p));
    await writeFile(predictionsFile, `${lines.join('\n')}\n`);
    const ingested = await ingestNdjsonFile(testDb.db, 'predictions', predictionsFile);
    expect(ingested).toMatchObject({ accepted: 44, duplicates: 1, conflicts: 0, rejected: [] });

    const deliveredAt = new Map<string, number>();
    const deliver = async (batch: Outcome[], name: string) => {
      const file = path.join(dir, `${name}.ndjson`);
      const records = batch.map(({ deliverAt: _d, ...o }) => o);
      // ts_received defaults to ingestion time; the last moment it can be is after the ingest returns.
      await writeFile(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
      const result = await ingestNdjsonFile(testDb.db, 'outcomes', file);
      expect(result.rejected).toEqual([]);
      const now = Date.now();
      for (const o of batch) deliveredAt.set(o.outcome_id, now);
    };
    const all = [...outcomes, ...traps];

    const { definition } = await putLabelDefinition(testDb.db, {
      name: 'chargeback-8s',
      version: 1,
      model_name: 'fraud',
      task: 'binary',
      window: 'PT8S',
      checkpoints: ['PT3S'],
      positive_outcome_types: ['chargeback'],
      absent_means: 'negative',
      slices: ['region'],
      late_label_grace: 'PT3S',
    });
    const selector = { model_name: 'fraud', model_version: 'v2', environment: 'production', start: at(start), end: at(end) };
    const client = new Client({ connection: clientConnection });
    const started = await startCohortLifecycle(client, taskQueue, selector, definition, { lateLabelChecks: 1 });
    const cohortId = started.cohort_id;
    expect(cohortId).toBe(cohortIdFor(selector, definition));
    const again = await startCohortLifecycle(client, taskQueue, selector, definition, { lateLabelChecks: 1 });
    expect(again.already_started).toBe(true);
    const handle = client.workflow.getHandle<typeof cohortLifecycle>(cohortId);

    await sleepUntil(EARLY);
    await deliver(
      all.filter((o) => o.deliverAt === EARLY),
      'early',
    );
    await sleepUntil(end + CHECKPOINT_MS + 1_500);
    await deliver(
      all.filter((o) => o.deliverAt === end + CHECKPOINT_MS + 1_500),
      'middle',
    );
    await sleepUntil(end + WINDOW_MS + 1_000);
    await deliver(
      all.filter((o) => o.deliverAt === end + WINDOW_MS + 1_000),
      'late',
    );

    const result = await handle.result();
    expect(result.phase).toBe('closed');
    expect(events).toEqual([`${cohortId} PT3S@1`, `${cohortId} final@1`, `${cohortId} final@2`, `${cohortId} closed with 3`]);
    expect(result.snapshots.map((s) => [s.checkpoint, s.revision])).toEqual([
      ['PT3S', 1],
      ['final', 1],
      ['final', 2],
    ]);
    const queried = await handle.query(getStatusQuery);
    expect(queried.phase).toBe('closed');
    expect(queried.snapshots.map((s) => s.snapshotId)).toEqual(result.snapshots.map((s) => s.snapshotId));
    // What an operator sees under "current details" in the Web UI.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('**closed**');
    expect(metadata.currentDetails).toMatch(/\| final \| 2 \| /);

    const delivered = (o: Outcome) => deliveredAt.get(o.outcome_id)!;
    const snapshots = await testDb.db('metric_snapshots').where({ cohort_id: cohortId }).orderBy('snapshot_id');
    expect(snapshots).toHaveLength(3);
    const asOfs = [end + CHECKPOINT_MS, end + WINDOW_MS, Date.parse(result.plan!.lateLabelGraceEnd)];
    snapshots.forEach((snapshot, index) => {
      expect(new Date(snapshot.as_of).getTime()).toBe(asOfs[index]);
      const expected = expectedAt(cohort, all, asOfs[index]!, delivered);
      const overall = snapshot.document.overall;
      expect(overall.n).toBe(40);
      expect(overall.n_positive).toBe(expected.n_positive);
      expect(overall.label_availability).toBeCloseTo(expected.label_availability, 12);
      expect(overall.roc_auc).toBeCloseTo(expected.roc_auc, 12);
      expect(overall.brier).toBeCloseTo(expected.brier, 12);
      expect(snapshot.document.join.rejected_before_prediction).toBe(1);
    });
    // Provisional numbers see fewer positives than final ones, which see fewer than the revision.
    const positives = snapshots.map((s) => s.document.overall.n_positive);
    expect(positives[0]).toBeLessThan(positives[1]);
    expect(positives[1]).toBeLessThan(positives[2]);
    expect(snapshots[2].document.overall.label_availability).toBe(1);

    // What an operator finds and reads in the Web UI: search attributes and named waits and steps.
    const description = await handle.describe();
    const attributes = description.typedSearchAttributes;
    expect(attributes.get(MODEL_NAME)).toBe('fraud');
    expect(attributes.get(MODEL_VERSION)).toBe('v2');
    expect(attributes.get(ENVIRONMENT)).toBe('production');
    expect(attributes.get(LABEL_DEFINITION)).toBe('chargeback-8s@1');
    expect(attributes.get(COHORT_START)?.toISOString()).toBe(at(start));
    expect(attributes.get(COHORT_END)?.toISOString()).toBe(at(end));
    expect(attributes.get(LIFECYCLE_STAGE)).toBe('closed');
    const listed = await waitFor(
      async () => {
        const ids = [];
        for await (const execution of client.workflow.list({
          query: `ModelName = 'fraud' AND LifecycleStage = 'closed' AND LabelDefinition = 'chargeback-8s@1'`,
        }))
          ids.push(execution.workflowId);
        return ids.includes(cohortId) ? ids : undefined;
      },
      20_000,
      'the closed cohort in the visibility store',
    );
    expect(listed).toContain(cohortId);

    const history = await handle.fetchHistory();
    const summaries = historySummaries(history);
    const moment = (ms: number) => at(ms).replace('.000Z', 'Z');
    expect(summaries).toEqual([
      'plan the checkpoints from the label definition',
      'judge the closed cohort (label-free rules) by the monitoring policy',
      `wait for the PT3S checkpoint (${moment(end + CHECKPOINT_MS)})`,
      `evaluate PT3S as of ${moment(end + CHECKPOINT_MS)}`,
      'judge the PT3S snapshot (revision 1) by the monitoring policy',
      `wait for finalization (${moment(end + WINDOW_MS)})`,
      `evaluate final as of ${moment(end + WINDOW_MS)}`,
      'judge the final snapshot (revision 1) by the monitoring policy',
      `wait for late-label check 1 of 1 (${moment(end + WINDOW_MS + GRACE_MS)})`,
      `look for late labels as of ${moment(end + WINDOW_MS + GRACE_MS)}`,
      'judge the final snapshot (revision 2) by the monitoring policy',
    ]);
    // One upsert per phase change: checkpoint wait, evaluating, final wait, evaluating, grace, closed.
    const stages = history
      .events!.map((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.LifecycleStage)
      .filter((payload) => payload !== undefined && payload !== null)
      .map((payload) => defaultPayloadConverter.fromPayload<string>(payload));
    expect(stages).toEqual(['waiting_for_checkpoint', 'evaluating', 'waiting_for_final', 'evaluating', 'late_label_grace', 'closed']);

    // The recorded history replays against the current workflow code.
    expect(history.events!.length).toBeLessThanOrEqual(150);
    await replay(history, cohortId);
    await recordHistory('cohort-lifecycle-live', history);
  });
});
