import type { Knex } from 'knex';
import { getLabelDefinitionForModel } from '../evaluate/label-definitions';
import { readLabeledScores } from '../evaluate/labeled-scores';
import { CalibrationError, type LabeledRangesRequest, type RangeSummary } from './calibrators';
import { chooseThreshold, thresholdPoint, type ThresholdObjective, type ThresholdSearchPoint } from '../../stats/threshold-search';
import { LabelDefinitionError } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';

export interface ThresholdRequest extends LabeledRangesRequest {
  /** min_cost takes the definition's costs. */
  objective: { kind: 'target_precision' | 'target_recall'; target: number } | { kind: 'min_cost' };
}

/** What `hindsight threshold --json` prints. */
export interface ThresholdDocument {
  model_name: string;
  model_version: string;
  label_definition: string;
  /** The as-of the labels were read at (`--as-of`, default now); null: each range as of its own end + window. */
  as_of: string | null;
  objective: ThresholdObjective;
  threshold: number;
  train: RangeSummary & { at_threshold: ThresholdSearchPoint };
  holdout: RangeSummary & { at_threshold: ThresholdSearchPoint };
}

/**
 * Picks the threshold on the training range and reports it on the held-out range, both read
 * with the labels known at the request's as-of as calibrators are (../evaluate/labeled-scores),
 * with the definition's costs when it has them.
 */
export async function recalibrateThreshold(db: Knex, request: ThresholdRequest): Promise<ThresholdDocument> {
  const definition = await getLabelDefinitionForModel(db, request.label_definition, request.model_name);
  if (definition.task !== 'binary')
    throw new LabelDefinitionError(
      `label definition ${definition.name}@${definition.version} is a ${definition.task} definition; a threshold needs binary labels`,
    );
  const costs = definition.costs ?? null;
  let objective: ThresholdObjective;
  if (request.objective.kind === 'min_cost') {
    if (!costs)
      throw new LabelDefinitionError(
        `label definition ${definition.name}@${definition.version} has no costs; ` +
          `put a version with "costs": {"fp": …, "fn": …} to minimize the expected cost`,
      );
    objective = { kind: 'min_cost', costs };
  } else {
    objective = request.objective;
  }
  const range = { model_name: request.model_name, model_version: request.model_version, environment: request.environment };
  const asOf = request.as_of === null ? null : toUtcIso(request.as_of);
  const train = await readLabeledScores(db, { ...range, ...request.train }, definition, 'training', asOf);
  const holdout = await readLabeledScores(db, { ...range, ...request.holdout }, definition, 'held-out', asOf);
  // A threshold is chosen by the training positives: say which range and as-of have none.
  const where = `the training range [${train.from}, ${train.to}) as of ${train.as_of}`;
  if (train.labels.length === 0) throw new CalibrationError(`${where} has no labeled predictions (${train.predictions} predictions)`);
  if (train.positives === 0) throw new CalibrationError(`${where} has no positive labels among ${train.labels.length} labeled predictions`);
  const threshold = chooseThreshold(train.scores, train.labels, objective);
  const summary = (rows: typeof train) => ({
    from: rows.from,
    to: rows.to,
    as_of: rows.as_of,
    rows: rows.labels.length,
    positives: rows.positives,
    at_threshold: thresholdPoint(rows.scores, rows.labels, threshold, costs),
  });
  return {
    model_name: request.model_name,
    model_version: request.model_version,
    label_definition: `${definition.name}@${definition.version}`,
    as_of: asOf,
    objective,
    threshold,
    train: summary(train),
    holdout: summary(holdout),
  };
}
