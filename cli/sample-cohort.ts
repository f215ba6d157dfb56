import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mulberry32 } from '../stats/seeded-random';

/** A small seeded PRNG (mulberry32) so a sample cohort is the same on every machine. */
export const createRandom = mulberry32;

export interface SampleCohortOptions {
  model: string;
  version: string;
  environment: string;
  start: Date;
  end: Date;
  count: number;
  /** Outcome delays (event after prediction, receipt after event) are drawn up to these. */
  maxEventDelayMs: number;
  maxReceiptDelayMs: number;
  seed?: number;
  /** A share of outcomes reported only after finalization, to show late-label revisions. */
  lateReceipts?: { share: number; from: Date; spanMs: number };
}

export interface SampleCohort {
  predictions: Array<Record<string, unknown>>;
  outcomes: Array<Record<string, unknown>>;
}

/**
 * Fraud-style predictions whose chargebacks arrive later: the higher the score, the more
 * likely a chargeback, so the metrics are meaningful rather than noise.
 */
export function generateSampleCohort(options: SampleCohortOptions): SampleCohort {
  const random = createRandom(options.seed ?? 42);
  const span = options.end.getTime() - options.start.getTime();
  const predictions: Array<Record<string, unknown>> = [];
  const outcomes: Array<Record<string, unknown>> = [];
  const regions = ['eu', 'us'];
  const devices = ['ios', 'android', 'web'];
  for (let i = 0; i < options.count; i++) {
    const tsPred = new Date(options.start.getTime() + Math.floor(random() * span));
    const score = Math.round(random() * 1000) / 1000;
    const predictionId = randomUUID();
    predictions.push({
      prediction_id: predictionId,
      model_name: options.model,
      model_version: options.version,
      environment: options.environment,
      region: regions[i % regions.length],
      segment: { device: devices[i % devices.length] },
      entity_ids: { transaction_id: `t${i}`, user_id: `u${i % 50}` },
      ts_pred: tsPred.toISOString(),
      score,
    });
    if (random() < score * 0.8) {
      const tsEvent = new Date(tsPred.getTime() + Math.floor(random() * options.maxEventDelayMs));
      const late = options.lateReceipts && random() < options.lateReceipts.share;
      const tsReceived = late
        ? new Date(options.lateReceipts!.from.getTime() + Math.floor(random() * options.lateReceipts!.spanMs))
        : new Date(tsEvent.getTime() + Math.floor(random() * options.maxReceiptDelayMs));
      outcomes.push({
        // Keyed by the prediction, so a second sample's chargebacks are new outcomes, not conflicts.
        outcome_id: `cb-${predictionId}`,
        prediction_id: predictionId,
        outcome_type: 'chargeback',
        ts_event: tsEvent.toISOString(),
        ts_received: tsReceived.toISOString(),
        source: 'sample',
      });
    }
  }
  return { predictions, outcomes };
}

export async function writeNdjson(file: string, records: Array<Record<string, unknown>>): Promise<string> {
  await writeFile(file, records.map((record) => JSON.stringify(record)).join('\n') + '\n');
  return path.resolve(file);
}
