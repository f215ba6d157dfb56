import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Knex } from 'knex';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRecords } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { startCohortLifecycle } from '../../control/start-cohort';
import { ensureTemporalCli, startDevServer, type DevServer } from '../../workers/temporal-dev-server';
import { createHindsightWorker, installRuntimeLogger } from '../../workers/worker';
import type { cohortLifecycle } from '../../workflows';
import { useTestDatabase } from '../support/database';
import { launchChromium, type HeadlessChromium } from './chromium';

installRuntimeLogger('WARN');
const testDb = useTestDatabase();
/** Git-ignored; CI keeps them as the run's artifacts. */
const ARTIFACTS = path.join(__dirname, '..', 'artifacts');
const MODEL = 'fraud-ui';
const OTHER_MODEL = 'churn-ui';
// Seconds apart, so that even on a busy machine each evaluation ends before the next wait does.
const CHECKPOINT_MS = 3_000;
const WINDOW_MS = 6_000;
const GRACE_MS = 3_000;

/** How the workflow prints a whole-second moment in its summaries. */
const moment = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

async function ingest(db: Knex, kind: 'predictions' | 'outcomes', records: object[]): Promise<void> {
  const result = await ingestRecords(db, kind, [records.map((value, i) => ({ line: i + 1, text: JSON.stringify(value), value }))]);
  expect(result.rejected).toEqual([]);
}

/** Twelve predictions of `model` in the cohort's first 3 s (already past), a chargeback for every third. */
async function storeCohortRows(db: Knex, model: string, start: number): Promise<void> {
  const predictions = Array.from({ length: 12 }, (_, i) => ({
    prediction_id: randomUUID(),
    model_name: model,
    model_version: 'v1',
    environment: 'production',
    ts_pred: new Date(start + 250 * i).toISOString(),
    score: ((i * 7) % 12) / 12,
  }));
  await ingest(db, 'predictions', predictions);
  await ingest(
    db,
    'outcomes',
    predictions
      .filter((_, i) => i % 3 === 0)
      .map((p, i) => ({
        outcome_id: `${model}-cb-${i}`,
        prediction_id: p.prediction_id,
        outcome_type: 'chargeback',
        ts_event: new Date(Date.parse(p.ts_pred) + 100).toISOString(),
      })),
  );
}

async function putDefinition(db: Knex, model: string) {
  const { definition } = await putLabelDefinition(db, {
    name: `${model}-chargeback`,
    version: 1,
    model_name: model,
    task: 'binary',
    window: 'PT6S',
    checkpoints: ['PT3S'],
    positive_outcome_types: ['chargeback'],
    absent_means: 'negative',
    late_label_grace: 'PT3S',
  });
  return definition;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `web-ui-${name}.png`), fullPage: true });
}

describe('the Temporal Web UI shows an operator a closed cohort', () => {
  let server: DevServer;
  let connection: NativeConnection;
  let clientConnection: Connection;
  let worker: Worker;
  let workerRun: Promise<void>;
  let browser: HeadlessChromium | undefined;
  const taskQueue = `browser-${randomUUID()}`;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // Its own server: the run's shared one is headless.
    server = await startDevServer({ cliPath: ensureTemporalCli(), port: 0, uiPort: 0 });
    connection = await NativeConnection.connect({ address: server.address });
    clientConnection = await Connection.connect({ address: server.address });
    worker = await createHindsightWorker({ connection, db: testDb.db, namespace: 'default', taskQueue });
    workerRun = worker.run();
  });

  afterAll(async () => {
    await browser?.close();
    worker?.shutdown();
    await workerRun;
    await clientConnection?.close();
    await connection?.close();
    await server?.stop();
  });

  it('lists it under a ModelName filter, with named timers and activities, its search attributes and its current details', async () => {
    testDb.keepOnFailure();
    // The end lies ahead (the worker is already bundled), so every wait is a real timer.
    const end = Math.ceil(Date.now() / 1000) * 1000 + 2_000;
    const start = end - 8_000;
    await storeCohortRows(testDb.db, MODEL, start);
    await storeCohortRows(testDb.db, OTHER_MODEL, start);
    const client = new Client({ connection: clientConnection });
    const selector = (model: string) => ({
      model_name: model,
      model_version: 'v1',
      environment: 'production',
      start: new Date(start).toISOString(),
      end: new Date(end).toISOString(),
    });
    const [cohort, other] = await Promise.all(
      [MODEL, OTHER_MODEL].map(async (model) =>
        startCohortLifecycle(client, taskQueue, selector(model), await putDefinition(testDb.db, model), { lateLabelChecks: 1 }),
      ),
    );
    const results = await Promise.all(
      [cohort!, other!].map((c) => client.workflow.getHandle<typeof cohortLifecycle>(c.cohort_id).result()),
    );
    expect(results.map((r) => r.phase)).toEqual(['closed', 'closed']);
    expect(results[0]!.snapshots.map((s) => s.checkpoint)).toEqual(['PT3S', 'final']);
    const cohortId = cohort!.cohort_id;

    // What the workflow names each wait and activity (the activity type is the UI's own prefix).
    const summaries = [
      { kind: 'Activity', type: 'planCohortLifecycle', text: 'plan the checkpoints from the label definition', status: 'Completed' },
      {
        kind: 'Activity',
        type: 'applyMonitoringPolicy',
        text: 'judge the closed cohort (label-free rules) by the monitoring policy',
        status: 'Completed',
      },
      { kind: 'Timer', type: null, text: `wait for the PT3S checkpoint (${moment(end + CHECKPOINT_MS)})`, status: 'Fired' },
      { kind: 'Activity', type: 'evaluateCheckpoint', text: `evaluate PT3S as of ${moment(end + CHECKPOINT_MS)}`, status: 'Completed' },
      {
        kind: 'Activity',
        type: 'applyMonitoringPolicy',
        text: 'judge the PT3S snapshot (revision 1) by the monitoring policy',
        status: 'Completed',
      },
      { kind: 'Timer', type: null, text: `wait for finalization (${moment(end + WINDOW_MS)})`, status: 'Fired' },
      { kind: 'Activity', type: 'evaluateCheckpoint', text: `evaluate final as of ${moment(end + WINDOW_MS)}`, status: 'Completed' },
      {
        kind: 'Activity',
        type: 'applyMonitoringPolicy',
        text: 'judge the final snapshot (revision 1) by the monitoring policy',
        status: 'Completed',
      },
      { kind: 'Timer', type: null, text: `wait for late-label check 1 of 1 (${moment(end + WINDOW_MS + GRACE_MS)})`, status: 'Fired' },
      {
        kind: 'Activity',
        type: 'reviseFinalSnapshot',
        text: `look for late labels as of ${moment(end + WINDOW_MS + GRACE_MS)}`,
        status: 'Completed',
      },
    ];

    browser = await launchChromium();
    const { page } = browser;

    // The list, filtered the way an operator types it: only this model's cohort.
    await page.goto(`${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`ModelName='${MODEL}'`)}`);
    const link = page.getByRole('link', { name: cohortId, exact: true });
    await expect.poll(() => link.count(), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => page.getByRole('heading', { name: /^1 Workflow$/ }).count()).toBe(1);
    expect(await page.getByRole('link', { name: other!.cohort_id }).count()).toBe(0);
    expect(await page.getByText(`"${MODEL}"`).first().isVisible()).toBe(true);
    await screenshot(page, 'list');

    // The history's timeline (an SVG) labels every wait and every activity, and nothing unnamed.
    await link.click();
    await page.waitForURL(/\/history$/);
    const labels = summaries.map((s) => (s.type ? `${s.type} • ${s.text}` : s.text));
    for (const label of labels) await page.locator('svg text').getByText(label, { exact: true }).waitFor({ state: 'visible' });
    const timeline = (await page.locator('svg text').allTextContents()).map((t) => t.trim());
    // Everything but the axis ticks and dates: an unnamed timer or activity would show up here.
    // One marker per patch the cohort was started under (operator view, monitoring, delivery workflows).
    expect(timeline.filter((t) => !/^\d/.test(t)).sort()).toEqual([...labels, 'core_patch', 'core_patch', 'core_patch'].sort());
    await screenshot(page, 'history');

    // User Metadata: the same summaries in order with their outcome, and the current details.
    await page.getByText('User Metadata', { exact: true }).click();
    await page.waitForURL(/\/user-metadata$/);
    const events = page.locator('xpath=//*[normalize-space()="Events with Metadata"]/ancestor::div[.//*[normalize-space()="Fired"]][1]');
    await events.getByText(summaries.at(-1)!.text).waitFor();
    const eventLines = (await events.innerText())
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    expect(eventLines.slice(eventLines.indexOf('Events with Metadata') + 1)).toEqual(summaries.flatMap((s) => [s.kind, s.text, s.status]));

    const details = page.frameLocator('xpath=//h3[normalize-space()="Current Details"]/ancestor::div[.//iframe][1]//iframe');
    await expect.poll(() => details.locator('strong').first().innerText()).toBe('closed');
    expect(await details.getByText(`Schedule: PT3S at ${new Date(end + CHECKPOINT_MS).toISOString()}`).isVisible()).toBe(true);
    const header = await details.locator('thead th').allInnerTexts();
    expect(header).toEqual(['checkpoint', 'revision', 'as of', 'n', 'labeled', 'label availability', 'ROC AUC', 'Brier', 'recall']);
    const rows = details.locator('tbody tr');
    expect(await rows.count()).toBe(2);
    for (const [index, snapshot] of results[0]!.snapshots.entries()) {
      const row = rows.nth(index);
      await row.scrollIntoViewIfNeeded();
      expect(await row.isVisible()).toBe(true);
      const cells = await row.locator('td').allInnerTexts();
      expect(cells.slice(0, 4)).toEqual([snapshot.checkpoint, '1', snapshot.asOf, '12']);
      expect(Number(cells[6])).toBeCloseTo(snapshot.rocAuc!, 4);
      expect(Number(cells[7])).toBeCloseTo(snapshot.brier!, 4);
    }
    await screenshot(page, 'user-metadata');

    // Search Attributes: what the list filter matched, and the stage the cohort ended in.
    await page.getByText('Search Attributes', { exact: true }).click();
    await page.waitForURL(/\/search-attributes$/);
    const expected = {
      ModelName: MODEL,
      ModelVersion: 'v1',
      Environment: 'production',
      LabelDefinition: `${MODEL}-chargeback@1`,
      CohortStart: new Date(start).toISOString(),
      CohortEnd: new Date(end).toISOString(),
      LifecycleStage: 'closed',
    };
    for (const [key, value] of Object.entries(expected)) {
      await page.getByText(`"${key}": "${value}"`).waitFor({ state: 'visible' });
    }
    await screenshot(page, 'search-attributes');
  });
});
