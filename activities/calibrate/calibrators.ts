/**
 * Fitting, storing, promoting and loading calibrators (docs/calibration.md). A fit reads the
 * training range's labeled rows and the held-out (newest) range's, both with the labels known
 * at the request's as-of, fits Platt or isotonic on the training scores, and judges raw against calibrated
 * probabilities on the held-out rows. Each fit is one immutable version in `calibrators`;
 * the active calibrator of a model version is the one promoted last.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { ModelVersionRef } from '../../contracts/model';
import type { CalibrationMethod, Promotion, TimeRange } from '../../contracts/recalibration';
import { applyCalibrator, type Calibrator, type CalibratorParameters } from '../../client/calibrator';
import { canonicalJson } from '../../contracts/canonical-json';
import { getLabelDefinitionForModel } from '../evaluate/label-definitions';
import { readLabeledScores, type LabeledScores } from '../evaluate/labeled-scores';
import { fitIsotonic } from '../../stats/isotonic';
import { CalibrationFitError, fitPlatt } from '../../stats/platt';
import { probabilityQuality, type ProbabilityQuality } from '../../stats/probability-quality';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { LabelDefinitionError, type LabelDefinition } from '../../contracts/label-definition';

/**
 * `auto` fits Platt below this many labeled training rows, isotonic from here on: with few
 * rows isotonic's steps follow the noise (it has a free value per distinct score), while
 * Platt's two parameters do not; with many, isotonic also fixes shapes a sigmoid cannot.
 */
export const AUTO_PLATT_BELOW = 1_000;

/** A model version's labeled scores on a training and a held-out range: what a fit and a threshold search read. */
export interface LabeledRangesRequest {
  model_name: string;
  model_version: string;
  environment: string | null;
  /** NAME or NAME@VERSION's parts: the latest version when `version` is absent. */
  label_definition: { name: string; version?: number | undefined };
  train: TimeRange;
  holdout: TimeRange;
  /**
   * The labels known at this moment are read (`--as-of`; the CLI's default is now): an outcome
   * received after a range's end + window counts. At or after each range's end + window, not
   * in the future. Null reads each range as of its own end + window, as fits did before they
   * took an as-of (only a recalibration whose fit was scheduled before then asks for that).
   */
  as_of: string | null;
}

export interface FitCalibratorRequest extends LabeledRangesRequest {
  method: CalibrationMethod;
  /** Names the request, so a retried or repeated one stores one version; default: a hash of the inputs. */
  request_key?: string | undefined;
}

export interface RangeSummary {
  from: string;
  to: string;
  as_of: string;
  rows: number;
  positives: number;
}

/** A stored calibrator as `calibrate fit --json` and the recalibration workflow report it. */
export interface CalibratorRecord {
  calibrator_id: number;
  version: number;
  model_name: string;
  model_version: string;
  environment: string | null;
  label_definition: string;
  requested_method: CalibrationMethod;
  method: CalibratorParameters['method'];
  parameters: CalibratorParameters['parameters'];
  /** The as-of the fit asked for; null: each range was read as of its own end + window (see `train.as_of`, `holdout.as_of`). */
  as_of: string | null;
  train: RangeSummary;
  holdout: RangeSummary;
  before: ProbabilityQuality;
  after: ProbabilityQuality;
  /** after.brier < before.brier: the only calibrators that may be promoted. */
  improved: boolean;
  created_at: string;
}

export class CalibrationError extends Error {
  override readonly name = 'CalibrationError';
}

/** The method `auto` picks for this many labeled training rows. */
export function resolveMethod(method: CalibrationMethod, trainRows: number): CalibratorParameters['method'] {
  if (method !== 'auto') return method;
  return trainRows < AUTO_PLATT_BELOW ? 'platt' : 'isotonic';
}

function fitParameters(method: CalibratorParameters['method'], train: LabeledScores): CalibratorParameters {
  return method === 'platt'
    ? { method, parameters: fitPlatt(train.scores, train.labels) }
    : { method, parameters: fitIsotonic(train.scores, train.labels) };
}

function checkRows(rows: LabeledScores, what: string): void {
  const where = `the ${what} range [${rows.from}, ${rows.to}) as of ${rows.as_of}`;
  if (rows.labels.length === 0) throw new CalibrationError(`${where} has no labeled predictions (${rows.predictions} predictions)`);
  if (rows.positives === 0) throw new CalibrationError(`${where} has no positive labels among ${rows.labels.length} labeled predictions`);
  if (rows.positives === rows.labels.length)
    throw new CalibrationError(`${where} has no negative labels among ${rows.labels.length} labeled predictions`);
}

const summarizeRange = (rows: LabeledScores): RangeSummary => ({
  from: rows.from,
  to: rows.to,
  as_of: rows.as_of,
  rows: rows.labels.length,
  positives: rows.positives,
});

/** The default request key: the same inputs (definition resolved to its version) name the same request. */
function defaultRequestKey(request: FitCalibratorRequest, definition: LabelDefinition): string {
  const inputs = {
    model_name: request.model_name,
    model_version: request.model_version,
    environment: request.environment,
    label_definition: `${definition.name}@${definition.version}`,
    train: { from: toUtcIso(request.train.from), to: toUtcIso(request.train.to) },
    holdout: { from: toUtcIso(request.holdout.from), to: toUtcIso(request.holdout.to) },
    method: request.method,
    // Another as-of may know other labels: it is another request. (Absent for null, so the key of
    // a fit without an as-of is the one it had before fits took one.)
    ...(request.as_of === null ? {} : { as_of: toUtcIso(request.as_of) }),
  };
  return `inputs:${createHash('sha256').update(canonicalJson(inputs)).digest('hex')}`;
}

/**
 * Fits a calibrator and stores it as the model version's next calibrator version; returns
 * the stored one (`created: false`) when the same request was stored before, so a retried
 * activity never stores two. It is not promoted here: see {@link promoteCalibrator}.
 */
export async function fitCalibrator(db: Knex, request: FitCalibratorRequest): Promise<{ calibrator: CalibratorRecord; created: boolean }> {
  const definition = await getLabelDefinitionForModel(db, request.label_definition, request.model_name);
  if (definition.task !== 'binary')
    throw new LabelDefinitionError(
      `label definition ${definition.name}@${definition.version} is a ${definition.task} definition; calibration needs binary labels`,
    );
  const requestKey = request.request_key ?? defaultRequestKey(request, definition);
  const existing = await loadCalibratorBy(db, { request_key: requestKey });
  if (existing) return { calibrator: existing, created: false };
  if (Date.parse(request.train.to) > Date.parse(request.holdout.from)) {
    throw new CalibrationError(
      `the training range must end by the time the held-out range begins (train to ${toUtcIso(request.train.to)}, ` +
        `holdout from ${toUtcIso(request.holdout.from)}): the held-out period is the newest`,
    );
  }
  const range = { model_name: request.model_name, model_version: request.model_version, environment: request.environment };
  const asOf = request.as_of === null ? null : toUtcIso(request.as_of);
  const train = await readLabeledScores(db, { ...range, ...request.train }, definition, 'training', asOf);
  const holdout = await readLabeledScores(db, { ...range, ...request.holdout }, definition, 'held-out', asOf);
  checkRows(train, 'training');
  checkRows(holdout, 'held-out');
  const method = resolveMethod(request.method, train.labels.length);
  let fitted: CalibratorParameters;
  try {
    fitted = fitParameters(method, train);
  } catch (error) {
    if (error instanceof CalibrationFitError)
      throw new CalibrationError(`the training range [${train.from}, ${train.to}): ${error.message}`);
    throw error;
  }
  const before = probabilityQuality(holdout.scores, holdout.labels);
  const after = probabilityQuality(
    holdout.scores.map((score) => applyCalibrator(fitted, score)),
    holdout.labels,
  );

  const stored = await db.transaction(async (trx) => {
    // One fit at a time per model version, so versions count up without gaps or clashes.
    await trx.raw('select pg_advisory_xact_lock(hashtext(:key))', { key: `calibrators/${request.model_name}/${request.model_version}` });
    const again = await trx('calibrators').where({ request_key: requestKey }).first('calibrator_id');
    if (again) return { id: again.calibrator_id as number, created: false };
    const { next } = await trx('calibrators')
      .where({ model_name: request.model_name, model_version: request.model_version })
      .first(trx.raw('coalesce(max(version), 0) + 1 as next'));
    const [row] = await trx('calibrators')
      .insert({
        model_name: request.model_name,
        model_version: request.model_version,
        environment: request.environment,
        version: next,
        request_key: requestKey,
        label_definition_name: definition.name,
        label_definition_version: definition.version,
        requested_method: request.method,
        method: fitted.method,
        parameters: JSON.stringify(fitted.parameters),
        as_of: asOf,
        train_from: train.from,
        train_to: train.to,
        train_as_of: train.as_of,
        train_rows: train.labels.length,
        train_positives: train.positives,
        holdout_from: holdout.from,
        holdout_to: holdout.to,
        holdout_as_of: holdout.as_of,
        holdout_rows: holdout.labels.length,
        holdout_positives: holdout.positives,
        before: JSON.stringify(before),
        after: JSON.stringify(after),
        improved: after.brier < before.brier,
      })
      .returning('calibrator_id');
    return { id: row.calibrator_id as number, created: true };
  });
  return { calibrator: (await loadCalibratorBy(db, { calibrator_id: stored.id }))!, created: stored.created };
}

type CalibratorRow = Record<string, unknown> & {
  calibrator_id: string | number;
  parameters: CalibratorRecord['parameters'];
  before: ProbabilityQuality;
  after: ProbabilityQuality;
};

const iso = (value: unknown) => (value as Date).toISOString();

function toRecord(row: CalibratorRow): CalibratorRecord {
  const range = (prefix: 'train' | 'holdout'): RangeSummary => ({
    from: iso(row[`${prefix}_from`]),
    to: iso(row[`${prefix}_to`]),
    as_of: iso(row[`${prefix}_as_of`]),
    rows: row[`${prefix}_rows`] as number,
    positives: row[`${prefix}_positives`] as number,
  });
  return {
    calibrator_id: Number(row.calibrator_id),
    version: row.version as number,
    model_name: row.model_name as string,
    model_version: row.model_version as string,
    environment: row.environment as string | null,
    label_definition: `${row.label_definition_name}@${row.label_definition_version}`,
    requested_method: row.requested_method as CalibrationMethod,
    method: row.method as CalibratorRecord['method'],
    parameters: row.parameters,
    as_of: row.as_of === null ? null : iso(row.as_of),
    train: range('train'),
    holdout: range('holdout'),
    before: row.before,
    after: row.after,
    improved: row.improved as boolean,
    created_at: iso(row.created_at),
  };
}

async function loadCalibratorBy(
  db: Knex,
  where: { calibrator_id: number } | { request_key: string },
): Promise<CalibratorRecord | undefined> {
  const row = (await db('calibrators').where(where).first()) as CalibratorRow | undefined;
  return row ? toRecord(row) : undefined;
}

export async function loadCalibrator(db: Knex, calibratorId: number): Promise<CalibratorRecord> {
  const found = await loadCalibratorBy(db, { calibrator_id: calibratorId });
  if (!found) throw new CalibrationError(`no calibrator ${calibratorId}`);
  return found;
}

/**
 * Makes a calibrator the active one of its model version. Refuses one whose held-out Brier
 * did not improve. Idempotent: promoting the active calibrator again changes nothing.
 */
export async function promoteCalibrator(
  db: Knex,
  calibratorId: number,
  by: string,
  note: string | null = null,
  requestKey: string | null = null,
): Promise<Promotion> {
  const calibrator = await loadCalibrator(db, calibratorId);
  if (!calibrator.improved) {
    throw new CalibrationError(
      `calibrator ${calibratorId} did not lower the held-out Brier score ` +
        `(${calibrator.before.brier} before, ${calibrator.after.brier} after), so it is never promoted`,
    );
  }
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(:key))', {
      key: `calibrators/${calibrator.model_name}/${calibrator.model_version}`,
    });
    // The request promoted already (this is a retry after its commit): nothing more, whatever was promoted since.
    const decided = requestKey === null ? undefined : await trx('calibrator_promotions').where({ request_key: requestKey }).first();
    if (decided) {
      return {
        calibrator_id: Number(decided.calibrator_id),
        promoted_by: decided.promoted_by,
        note: decided.note,
        promoted_at: iso(decided.promoted_at),
        promoted_now: false,
      };
    }
    const active = await activePromotion(trx, { name: calibrator.model_name, version: calibrator.model_version });
    if (active && Number(active.calibrator_id) === calibratorId) {
      return {
        calibrator_id: calibratorId,
        promoted_by: active.promoted_by,
        note: active.note,
        promoted_at: iso(active.promoted_at),
        promoted_now: false,
      };
    }
    const [row] = await trx('calibrator_promotions')
      .insert({
        calibrator_id: calibratorId,
        model_name: calibrator.model_name,
        model_version: calibrator.model_version,
        promoted_by: by,
        note,
        request_key: requestKey,
      })
      .returning(['promoted_at']);
    return { calibrator_id: calibratorId, promoted_by: by, note, promoted_at: iso(row.promoted_at), promoted_now: true };
  });
}

async function activePromotion(db: Knex, model: ModelVersionRef) {
  return db('calibrator_promotions')
    .where({ model_name: model.name, model_version: model.version })
    .orderBy('promotion_id', 'desc')
    .first();
}

/** The active (last promoted) calibrator of a model version, ready for `applyCalibrator`, or null. */
export async function loadActiveCalibrator(
  db: Knex,
  model: ModelVersionRef,
): Promise<(Calibrator & { calibrator_id: number; record: CalibratorRecord }) | null> {
  const active = await activePromotion(db, model);
  if (!active) return null;
  const record = await loadCalibrator(db, Number(active.calibrator_id));
  const parameters = { method: record.method, parameters: record.parameters } as CalibratorParameters;
  return { ...parameters, calibrator_id: record.calibrator_id, record };
}

/** A model version's calibrator versions, newest first, each marked active or not. */
export async function listCalibrators(
  db: Knex,
  modelName: string,
  modelVersion?: string,
): Promise<Array<CalibratorRecord & { active: boolean }>> {
  const query = db('calibrators').where({ model_name: modelName });
  if (modelVersion !== undefined) query.andWhere({ model_version: modelVersion });
  const rows = (await query.orderBy([{ column: 'model_version' }, { column: 'version', order: 'desc' }])) as CalibratorRow[];
  const activeIds = new Set<number>();
  for (const version of new Set(rows.map((row) => row.model_version as string))) {
    const active = await activePromotion(db, { name: modelName, version });
    if (active) activeIds.add(Number(active.calibrator_id));
  }
  return rows.map((row) => ({ ...toRecord(row), active: activeIds.has(Number(row.calibrator_id)) }));
}
