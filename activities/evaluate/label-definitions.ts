import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { canonicalJson } from '../../contracts/canonical-json';
import {
  formatIssues,
  LabelDefinitionError,
  labelDefinitionFields,
  labelDefinitionSchema,
  type LabelDefinition,
} from '../../contracts/label-definition';

export type PutOutcome = 'created' | 'unchanged';

/** Where a versioned, immutable document is stored and how a changed version is refused. */
export interface ImmutableVersionStore {
  /** A table keyed by (name, version) with a `content_hash` column. */
  table: string;
  /** The documents' name in the refusal: 'label definitions', 'policies'. */
  documents: string;
  /** What the document came from (its file), prefixing the refusal. */
  where: string;
  error: new (message: string) => Error;
}

/**
 * Stores one version of a versioned, immutable document (a label definition, a monitoring
 * policy) as `row`, with the sha256 of the document's canonical JSON as its `content_hash`.
 * The same content again is a no-op ('unchanged'); different content under an existing
 * version is refused.
 */
export async function putImmutableVersion(
  db: Knex,
  store: ImmutableVersionStore,
  row: { name: string; version: number } & Record<string, unknown>,
  content: unknown,
): Promise<PutOutcome> {
  const contentHash = createHash('sha256').update(canonicalJson(content)).digest('hex');
  const inserted = await db(store.table)
    .insert({ ...row, content_hash: contentHash })
    .onConflict(['name', 'version'])
    .ignore()
    .returning('name');
  if (inserted.length === 0) {
    const existing = await db(store.table).where({ name: row.name, version: row.version }).first('content_hash');
    if (existing?.content_hash !== contentHash) {
      throw new store.error(
        `${store.where}: ${row.name}@${row.version} already exists with different content; ` +
          `${store.documents} are immutable, put version ${row.version + 1} with a changelog line`,
      );
    }
  }
  return inserted.length > 0 ? 'created' : 'unchanged';
}

/**
 * Stores a label definition version. Versions are immutable: the same content again is a
 * no-op, different content under an existing version is refused.
 */
export async function putLabelDefinition(
  db: Knex,
  input: unknown,
  where = 'label definition',
): Promise<{ outcome: PutOutcome; definition: LabelDefinition }> {
  const parsed = labelDefinitionSchema.safeParse(input);
  if (!parsed.success) throw new LabelDefinitionError(formatIssues(parsed.error, where));
  const definition = parsed.data;
  return db.transaction(async (trx) => {
    const row = {
      name: definition.name,
      version: definition.version,
      model_name: definition.model_name,
      task: definition.task,
      definition,
      changelog: definition.changelog ?? null,
    };
    const store = { table: 'label_definitions', documents: 'label definitions', where, error: LabelDefinitionError };
    const outcome = await putImmutableVersion(trx, store, row, definition);
    if (definition.task === 'binary') await recordProbabilityScores(trx, definition);
    return { outcome, definition };
  });
}

/**
 * A binary definition reads its model's scores as probabilities, so the first one put for a
 * model records [0, 1] as that model's score range; ingest then holds new predictions to it
 * (./ingest/score-ranges).
 */
async function recordProbabilityScores(trx: Knex.Transaction, definition: LabelDefinition): Promise<void> {
  await trx('model_score_ranges')
    .insert({
      model_name: definition.model_name,
      min_score: 0,
      max_score: 1,
      label_definition_name: definition.name,
      label_definition_version: definition.version,
    })
    .onConflict('model_name')
    .ignore();
}

export async function getLabelDefinition(db: Knex, ref: { name: string; version?: number | undefined }): Promise<LabelDefinition> {
  const query = db('label_definitions').where({ name: ref.name });
  if (ref.version !== undefined) query.andWhere({ version: ref.version });
  const row = await query.orderBy('version', 'desc').first('definition');
  if (!row) {
    throw new LabelDefinitionError(
      `label definition ${ref.name}${ref.version ? `@${ref.version}` : ''} not found; ` +
        `store it with: hindsight label-definition put FILE.json`,
    );
  }
  // A stored version passed the rules of its day; reading it never judges it again by newer
  // rules (put-time checks), so the cohorts under it stay evaluable.
  return labelDefinitionFields.parse(row.definition);
}

/**
 * The definition `ref` names, refused when it labels another model than `modelName`: its
 * outcome types and window describe that model's outcomes (as `trace` refuses it too).
 */
export async function getLabelDefinitionForModel(
  db: Knex,
  ref: { name: string; version?: number | undefined },
  modelName: string,
): Promise<LabelDefinition> {
  const definition = await getLabelDefinition(db, ref);
  if (definition.model_name !== modelName) {
    throw new LabelDefinitionError(
      `label definition ${definition.name}@${definition.version} labels model ${definition.model_name}, not ${modelName}; ` +
        `pass a definition of model ${modelName} (hindsight label-definition list)`,
    );
  }
  return definition;
}

export async function listLabelDefinitions(
  db: Knex,
): Promise<Array<{ name: string; version: number; model_name: string; task: string; changelog: string | null; created_at: Date }>> {
  return db('label_definitions').select('name', 'version', 'model_name', 'task', 'changelog', 'created_at').orderBy(['name', 'version']);
}
