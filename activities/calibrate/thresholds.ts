import type { Knex } from 'knex';
import { getLabelDefinitionForModel } from '../evaluate/label-definitions';
import { readLabeledScores } from '../evaluate/labeled-scores';
import type { LabeledRangesRequest, RangeSummary } from './calibrators';
import { chooseThreshold, thresholdPoint, type ThresholdObjective, type ThresholdSearchPoint } from '../../stats/threshold-search';
import { LabelDefinitionError } from '../../contracts/label-definition';

export interface ThresholdRequest extends LabeledRangesRequest {
  /** min_cost takes the definition's costs. */
  objective: { kind: 'target_precision' | 'target_recall'; target: number } | { kind: 'min_cost' };
}

/** What `hindsight threshold --json` prints. */
export interface ThresholdDocument {
  model_name: string;
  model_version: string;
  label_definition: string;
  objective: ThresholdObjective;
  threshold: number;
  train: RangeSummary & { at_threshold: ThresholdSearchPoint };
  holdout: RangeSummary & { at_threshold: ThresholdSearchPoint };
}

/**
 * Picks the threshold on the training range and reports it on the held-out range, both read
 * as of their own finality as calibrators are (./labeled-scores), with the definition's costs
 * when it has them.
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
  const train = await readLabeledScores(db, { ...range, ...request.train }, definition, 'training');
  const holdout = await readLabeledScores(db, { ...range, ...request.holdout }, definition, 'held-out');
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
    objective,
    threshold,
    train: summary(train),
    holdout: summary(holdout),
  };
}
