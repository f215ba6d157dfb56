import type { Knex } from 'knex';
import { TRACE_LABEL, TRACE_OUTCOMES } from '../../sql/export-trace';
import { CREATE_MATCHES, createLabeled, joinBindingsFor } from '../../sql/join-outcomes';
import { itemTask, leakageHorizon, type LabelDefinition } from '../../contracts/label-definition';
import { isUuid, UUID_MESSAGE } from '../../contracts/uuid';

export class PredictionNotFoundError extends Error {
  override readonly name = 'PredictionNotFoundError';
}

export type TraceVerdict =
  | 'joined'
  | 'rejected_before_prediction'
  | 'outside_window'
  | 'not_received_by_as_of'
  | 'outcome_type_not_in_definition'
  | 'attributed_to_another_prediction'
  | 'history_before_first_prediction'
  | 'history_before_leakage_horizon';

export interface TracedOutcome {
  outcome_id: string;
  outcome_type: string;
  value: number | null;
  ts_event: string;
  ts_received: string;
  source: string | null;
  join_path: string;
  verdict: TraceVerdict;
  decides_label: boolean;
  reason: string;
  attributed_to: string | null;
}

export interface PredictionTrace {
  prediction: Record<string, unknown>;
  label_definition: { name: string; version: number };
  as_of: string;
  label: {
    value: number | null;
    status: 'final' | 'provisional' | 'unlabeled';
    outcome_id: string | null;
    join_path: string | null;
    outcome_value: number | null;
  };
  outcomes: TracedOutcome[];
}

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : (value as string));

function explain(row: Record<string, unknown>, def: LabelDefinition, predictionId: string): { verdict: TraceVerdict; reason: string } {
  const status = row.status as string | null;
  if (status === 'joined') {
    return {
      verdict: 'joined',
      reason: row.decides_label
        ? `within the ${def.window} window; decides the label`
        : `within the ${def.window} window; another joined outcome decides the label`,
    };
  }
  if (status === 'rejected_before_prediction')
    return {
      verdict: status,
      reason: `ts_event is before ts_pred, within the ${leakageHorizon(def)} leakage horizon: time leakage, never joined`,
    };
  if (status === 'outside_window') return { verdict: status, reason: `ts_event is at or after ts_pred + ${def.window}` };
  if (!row.named_type)
    return {
      verdict: 'outcome_type_not_in_definition',
      reason: `outcome_type ${String(row.outcome_type)} is not named by ${def.name}@${def.version}`,
    };
  if (!row.known) return { verdict: 'not_received_by_as_of', reason: 'ts_received is after as-of, so it was not yet known' };
  // Named, known and carrying this prediction's id or request + item, yet no pair: the join
  // makes one for every such outcome except those further back than the leakage horizon.
  if (row.join_path !== 'by_entity_window') {
    return {
      verdict: 'history_before_leakage_horizon',
      reason: `happened more than ${leakageHorizon(def)} (the leakage horizon) before ts_pred: history, not leakage`,
    };
  }
  const owner = row.attributed_to as string | null;
  if (owner === predictionId) {
    return {
      verdict: 'history_before_first_prediction',
      reason: `happened more than ${leakageHorizon(def)} (the leakage horizon) before the entity's first prediction: history, not leakage`,
    };
  }
  return {
    verdict: 'attributed_to_another_prediction',
    reason: owner
      ? `the entity's latest prediction at or before ts_event (else its first after it) is ${owner}`
      : 'no prediction of this model version for the entity',
  };
}

/**
 * Shows one prediction with every outcome that matched it or was rejected for it, and why.
 * The verdicts come from the evaluation's own join, run on a cohort that is just this
 * prediction's instant, so a trace can never disagree with `evaluate`.
 */
export async function tracePrediction(db: Knex, predictionId: string, def: LabelDefinition, asOf: string): Promise<PredictionTrace> {
  // The one id rule of contracts/uuid.ts: what ingest accepts, a trace can name (and nothing else reaches SQL).
  if (!isUuid(predictionId)) throw new PredictionNotFoundError(`prediction id ${JSON.stringify(predictionId)} ${UUID_MESSAGE}`);
  const prediction = await db('predictions').where({ prediction_id: predictionId }).first();
  if (!prediction) throw new PredictionNotFoundError(`prediction ${predictionId} not found`);
  if (prediction.model_name !== def.model_name) {
    throw new PredictionNotFoundError(
      `prediction ${predictionId} is of model ${String(prediction.model_name)}, ` +
        `but ${def.name}@${def.version} labels model ${def.model_name}`,
    );
  }
  // A cohort of this prediction's instant, a millisecond either side: wide enough for a
  // ts_pred with microseconds (JavaScript dates keep milliseconds), and the rows are
  // filtered to this prediction anyway.
  const tsPred = (prediction.ts_pred as Date).getTime();
  const cohort = {
    model_name: prediction.model_name as string,
    model_version: prediction.model_version as string,
    environment: prediction.environment as string | null,
    start: new Date(tsPred - 1).toISOString(),
    end: new Date(tsPred + 1).toISOString(),
  };
  const entityKey = def.entity_key ?? null;
  const bindings = {
    ...joinBindingsFor(cohort, def, asOf),
    prediction_id: predictionId,
    request_id: prediction.request_id,
    item_id: prediction.item_id,
    entity: entityKey ? ((prediction.entity_ids as Record<string, string>)[entityKey] ?? null) : null,
  };
  return db.transaction(
    async (trx) => {
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(createLabeled([]), bindings);
      const label = (await trx.raw(TRACE_LABEL, bindings)).rows[0] as Record<string, unknown>;
      const rows = (await trx.raw(TRACE_OUTCOMES, bindings)).rows as Array<Record<string, unknown>>;
      const value = (itemTask(def) === 'regression' ? label.target : label.y) as number | null;
      const { content_hash: _hash, ...fields } = prediction as Record<string, unknown>;
      return {
        prediction: Object.fromEntries(
          Object.entries(fields).map(([key, field]) => [key, field instanceof Date ? field.toISOString() : field]),
        ),
        label_definition: { name: def.name, version: def.version },
        as_of: bindings.as_of,
        label: {
          value,
          status: label.is_final ? 'final' : value !== null ? 'provisional' : 'unlabeled',
          outcome_id: (label.outcome_id as string | null) ?? null,
          join_path: (label.join_path as string | null) ?? null,
          outcome_value: (label.outcome_value as number | null) ?? null,
        },
        outcomes: rows.map((row) => ({
          outcome_id: row.outcome_id as string,
          outcome_type: row.outcome_type as string,
          value: row.value as number | null,
          ts_event: iso(row.ts_event),
          ts_received: iso(row.ts_received),
          source: row.source as string | null,
          join_path: row.join_path as string,
          ...explain(row, def, predictionId),
          decides_label: Boolean(row.decides_label),
          attributed_to: (row.attributed_to as string | null) ?? null,
        })),
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}
