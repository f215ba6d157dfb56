import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';
import { approximateSeconds, isoDurationSchema } from './iso-duration';

/** Slice dimensions a definition may name: fixed prediction columns or `segment.<key>`. */
const sliceSchema = z
  .string()
  .regex(/^(region|environment|model_version|segment\.[A-Za-z0-9_]{1,63})$/, 'must be region, environment, model_version or segment.<key>');

const outcomeTypes = z.array(z.string().min(1)).default([]);

export const labelDefinitionSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . - only'),
    version: z.number().int().min(1),
    model_name: z.string().min(1),
    task: z.enum(['binary', 'regression']),
    window: isoDurationSchema,
    checkpoints: z.array(isoDurationSchema).default([]),
    positive_outcome_types: outcomeTypes,
    negative_outcome_types: outcomeTypes,
    /** Regression: the outcome types whose `value` is the target. */
    outcome_types: outcomeTypes,
    absent_means: z.enum(['negative', 'unknown']).default('negative'),
    entity_key: z.string().regex(/^[A-Za-z0-9_]{1,63}$/).optional(),
    slices: z.array(sliceSchema).default([]),
    decision_threshold: z.number().min(0).max(1).default(0.5),
    costs: z.object({ fp: z.number().min(0), fn: z.number().min(0) }).strict().optional(),
    late_label_grace: isoDurationSchema.default('P30D'),
    changelog: z.string().min(1).optional(),
    description: z.string().optional(),
  })
  .strict()
  .superRefine((def, ctx) => {
    if (def.task === 'binary' && def.positive_outcome_types.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['positive_outcome_types'], message: 'a binary definition needs at least one positive outcome type' });
    }
    if (def.task === 'regression' && def.outcome_types.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['outcome_types'], message: 'a regression definition needs at least one outcome type' });
    }
    const windowSeconds = approximateSeconds(def.window);
    def.checkpoints.forEach((checkpoint, index) => {
      if (approximateSeconds(checkpoint) >= windowSeconds) {
        ctx.addIssue({ code: 'custom', path: ['checkpoints', index], message: `checkpoint ${checkpoint} is not shorter than the window ${def.window}` });
      }
    });
    if (new Set(def.slices).size !== def.slices.length) {
      ctx.addIssue({ code: 'custom', path: ['slices'], message: 'slices must not repeat' });
    }
    if (def.version > 1 && !def.changelog) {
      ctx.addIssue({ code: 'custom', path: ['changelog'], message: 'a new version needs a changelog line saying what changed' });
    }
  });

export type LabelDefinition = z.output<typeof labelDefinitionSchema>;

export class LabelDefinitionError extends Error {
  override readonly name = 'LabelDefinitionError';
}

/** Outcome types that take part in the join for this definition. */
export function namedOutcomeTypes(def: LabelDefinition): string[] {
  return [...new Set([...def.positive_outcome_types, ...def.negative_outcome_types, ...def.outcome_types])];
}

export function formatIssues(error: z.ZodError, where: string): string {
  return error.issues.map((issue) => `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`).join('\n');
}

export type PutOutcome = 'created' | 'unchanged';

/**
 * Stores a label definition version. Versions are immutable: the same content again is a
 * no-op, different content under an existing version is refused.
 */
export async function putLabelDefinition(db: Knex, input: unknown, where = 'label definition'): Promise<{ outcome: PutOutcome; definition: LabelDefinition }> {
  const parsed = labelDefinitionSchema.safeParse(input);
  if (!parsed.success) throw new LabelDefinitionError(formatIssues(parsed.error, where));
  const definition = parsed.data;
  const contentHash = createHash('sha256').update(canonicalJson(definition)).digest('hex');
  const inserted = await db('label_definitions')
    .insert({
      name: definition.name,
      version: definition.version,
      model_name: definition.model_name,
      task: definition.task,
      definition,
      changelog: definition.changelog ?? null,
      content_hash: contentHash,
    })
    .onConflict(['name', 'version'])
    .ignore()
    .returning('name');
  if (inserted.length > 0) return { outcome: 'created', definition };
  const existing = await db('label_definitions').where({ name: definition.name, version: definition.version }).first('content_hash');
  if (existing?.content_hash !== contentHash) {
    throw new LabelDefinitionError(
      `${where}: ${definition.name}@${definition.version} already exists with different content; label definitions are immutable, put version ${definition.version + 1} with a changelog line`,
    );
  }
  return { outcome: 'unchanged', definition };
}

/** `NAME` (latest version) or `NAME@VERSION`. */
export function parseLabelDefinitionRef(ref: string): { name: string; version?: number } {
  const match = /^([A-Za-z0-9_.-]+)(?:@(\d+))?$/.exec(ref);
  if (!match) throw new LabelDefinitionError(`label definition reference "${ref}" must be NAME or NAME@VERSION`);
  if (match[2] === undefined) return { name: match[1]! };
  // The version column is an integer: a larger one would fail in the database instead.
  const version = Number(match[2]);
  if (version < 1 || version > 2_147_483_647) throw new LabelDefinitionError(`label definition reference "${ref}": version must be 1 … 2147483647`);
  return { name: match[1]!, version };
}

export async function getLabelDefinition(db: Knex, ref: { name: string; version?: number | undefined }): Promise<LabelDefinition> {
  const query = db('label_definitions').where({ name: ref.name });
  if (ref.version !== undefined) query.andWhere({ version: ref.version });
  const row = await query.orderBy('version', 'desc').first('definition');
  if (!row) {
    throw new LabelDefinitionError(`label definition ${ref.name}${ref.version ? `@${ref.version}` : ''} not found; store it with: hindsight label-definition put FILE.json`);
  }
  return labelDefinitionSchema.parse(row.definition);
}

export async function listLabelDefinitions(db: Knex): Promise<Array<{ name: string; version: number; model_name: string; task: string; changelog: string | null; created_at: Date }>> {
  return db('label_definitions').select('name', 'version', 'model_name', 'task', 'changelog', 'created_at').orderBy(['name', 'version']);
}
