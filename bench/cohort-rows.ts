/** The cohorts bench:lifecycle and bench:faults load: 20 predictions each, every fifth a chargeback. */
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { ingestRecords } from '../activities/ingest/ingest-records';

export const PREDICTIONS_PER_COHORT = 20;

/**
 * Cohort `version`'s rows, as bench:lifecycle makes them: 20 predictions spread over the 10 s
 * before `now`, every fifth a chargeback (two of the four scored under 0.5: recall 0.5).
 */
export function cohortRows(model: string, version: string, now: number): { predictions: object[]; outcomes: object[] } {
  const predictions = Array.from({ length: PREDICTIONS_PER_COHORT }, (_, i) => ({
    prediction_id: randomUUID(),
    model_name: model,
    model_version: version,
    environment: 'production',
    ts_pred: new Date(now - 10_000 + 500 * i).toISOString(),
    score: ((i * 7) % PREDICTIONS_PER_COHORT) / PREDICTIONS_PER_COHORT,
  }));
  const outcomes = predictions
    .filter((_, i) => i % 5 === 0)
    .map((p, i) => ({
      outcome_id: `${model}-${version}-cb-${i}`,
      prediction_id: p.prediction_id,
      outcome_type: 'chargeback',
      ts_event: new Date(Date.parse(p.ts_pred) + 100).toISOString(),
    }));
  return { predictions, outcomes };
}

async function ingest(db: Knex, kind: 'predictions' | 'outcomes', records: object[]): Promise<void> {
  const batches = function* () {
    for (let at = 0; at < records.length; at += 5_000) {
      yield records.slice(at, at + 5_000).map((value, i) => ({ line: at + i + 1, text: JSON.stringify(value), value }));
    }
  };
  const result = await ingestRecords(db, kind, batches());
  if (result.rejected_count > 0) throw new Error(`${kind}: ${result.rejected_count} rejected, e.g. ${JSON.stringify(result.rejected[0])}`);
}

/** Stores the cohorts' predictions and outcomes through ingest, then analyzes, so the first evaluation is not planned blind. */
export async function loadRows(db: Knex, rows: Array<{ predictions: object[]; outcomes: object[] }>): Promise<void> {
  await ingest(
    db,
    'predictions',
    rows.flatMap((r) => r.predictions),
  );
  await ingest(
    db,
    'outcomes',
    rows.flatMap((r) => r.outcomes),
  );
  await db.raw('analyze');
}
