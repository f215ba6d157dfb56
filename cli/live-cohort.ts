import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { ingestNdjsonFile } from '../activities/ingest/ingest-records';
import { putLabelDefinition } from '../activities/evaluate/label-definitions';
import { generateSampleCohort, writeNdjson } from './sample-cohort';
import { startCohortLifecycle, type StartedCohort } from '../control/start-cohort';

/** The live cohort's label window: checkpoints at 20 s and 40 s, final at 60 s, late labels for 30 s more. */
export const LIVE_LABEL_DEFINITION = {
  name: 'sample-chargeback-60s',
  version: 1,
  model_name: 'fraud-model',
  task: 'binary',
  window: 'PT60S',
  checkpoints: ['PT20S', 'PT40S'],
  positive_outcome_types: ['chargeback'],
  absent_means: 'negative',
  slices: ['region', 'segment.device'],
  late_label_grace: 'PT30S',
} as const;

/** From the cohort's end until it closes: the window plus the late-label grace. */
export const LIVE_COHORT_LIFETIME_MS = 90_000;

/**
 * A cohort of the last minute's predictions whose chargebacks "arrive" over the next minute:
 * its outcomes are stored now with future receipt times, and the as-of rule keeps each one
 * out of every evaluation until its moment comes, so the lifecycle is watched in real time.
 */
export async function startLiveCohort(db: Knex, client: Client, taskQueue: string, stateDir: string, count = 500): Promise<StartedCohort> {
  const end = new Date(Math.floor(Date.now() / 1000) * 1000);
  const start = new Date(end.getTime() - 60_000);
  const dir = path.resolve(stateDir, 'sample');
  await mkdir(dir, { recursive: true });
  // Chargebacks happen up to 40 s after the prediction and are reported up to 20 s later; one
  // in ten is reported only after finalization (end + 60 s), so the cohort shows a revision.
  const sample = generateSampleCohort({
    model: 'fraud-model',
    version: '1.0.0',
    environment: 'production',
    start,
    end,
    count,
    maxEventDelayMs: 40_000,
    maxReceiptDelayMs: 20_000,
    lateReceipts: { share: 0.1, from: new Date(end.getTime() + 65_000), spanMs: 15_000 },
  });
  await ingestNdjsonFile(db, 'predictions', await writeNdjson(path.join(dir, 'predictions.ndjson'), sample.predictions));
  await ingestNdjsonFile(db, 'outcomes', await writeNdjson(path.join(dir, 'outcomes.ndjson'), sample.outcomes));
  const { definition } = await putLabelDefinition(db, LIVE_LABEL_DEFINITION);
  const selector = {
    model_name: 'fraud-model',
    model_version: '1.0.0',
    environment: 'production',
    start: start.toISOString(),
    end: end.toISOString(),
  };
  return startCohortLifecycle(client, taskQueue, selector, definition);
}
