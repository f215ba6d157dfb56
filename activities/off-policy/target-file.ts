/**
 * The target policy file of `hindsight ope --target-policy` (docs/off-policy.md): one line per
 * prediction (`prediction_id`), or, compactly, one line per position and context (`position`,
 * optional `context` of segment values), expanded here to each matching prediction.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Knex } from 'knex';
import { z } from 'zod';
import { CREATE_TARGET, CREATE_TARGET_KEYED, EXPAND_TARGET_KEYED, INSERT_TARGET, INSERT_TARGET_KEYED } from '../../sql/off-policy';
import { uuidSchema } from '../../contracts/uuid';

/** A target policy file or a cohort the estimate cannot use, said with the file, line and field. */
export class OffPolicyInputError extends Error {
  override readonly name = 'OffPolicyInputError';
}

const distribution = {
  action_probabilities: z.record(z.string().min(1), z.number().min(0).max(1)),
  expected_rewards: z.record(z.string().min(1), z.number().refine(Number.isFinite, 'must be finite')).optional(),
};

function checkDistribution(
  line: { action_probabilities: Record<string, number>; expected_rewards?: Record<string, number> | undefined },
  ctx: z.RefinementCtx,
): void {
  const total = Object.values(line.action_probabilities).reduce((sum, p) => sum + p, 0);
  if (Math.abs(total - 1) > 1e-6)
    ctx.addIssue({ code: 'custom', path: ['action_probabilities'], message: `must sum to 1, sums to ${total}` });
  if (line.expected_rewards) {
    for (const [action, p] of Object.entries(line.action_probabilities)) {
      if (p > 0 && !(action in line.expected_rewards))
        ctx.addIssue({ code: 'custom', path: ['expected_rewards', action], message: 'missing for an action the target policy can take' });
    }
  }
}

const byPredictionSchema = z
  .object({ prediction_id: uuidSchema, ...distribution })
  .strict()
  .superRefine(checkDistribution);

/** A segment value, as ingest stores it: text. */
const contextValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const byPositionSchema = z
  .object({
    position: z.number().int().min(0).max(2_147_483_647),
    context: z.record(z.string().min(1), contextValue).optional(),
    ...distribution,
  })
  .strict()
  .superRefine(checkDistribution);

type Line = z.output<typeof byPredictionSchema> | z.output<typeof byPositionSchema>;

const TARGET_BATCH = 5000;

/**
 * Streams the target policy file into `hs_target` in batches (a cohort can have a million
 * lines); lines keyed by position and context go to `hs_target_keyed` and are expanded to the
 * cohort's predictions with that position and those segment values. Returns whether the lines
 * carry `expected_rewards` (all of them or none).
 */
export async function loadTargetFile(trx: Knex.Transaction, file: string): Promise<boolean> {
  await trx.raw(CREATE_TARGET);
  const seen = new Set<string>();
  let withRewards: boolean | null = null;
  let keyed: { first: number; contextKeys: string } | null = null;
  let batch: Line[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const probabilities = batch.map((line) => JSON.stringify(line.action_probabilities));
    const rewards = batch.map((line) => (line.expected_rewards ? JSON.stringify(line.expected_rewards) : null));
    if (keyed) {
      await trx.raw(INSERT_TARGET_KEYED, {
        positions: batch.map((line) => (line as z.output<typeof byPositionSchema>).position),
        contexts: batch.map((line) => JSON.stringify((line as z.output<typeof byPositionSchema>).context ?? {})),
        probabilities,
        rewards,
      });
    } else {
      await trx.raw(INSERT_TARGET, {
        ids: batch.map((line) => (line as z.output<typeof byPredictionSchema>).prediction_id),
        probabilities,
        rewards,
      });
    }
    batch = [];
  };
  let number = 0;
  let mode: 'prediction_id' | 'position' | null = null;
  for await (const text of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    number += 1;
    if (text.trim() === '') continue;
    const at = `${file} line ${number}`;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new OffPolicyInputError(`${at}: not JSON: ${(error as Error).message}`);
    }
    const object = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
    if (object && !('position' in object) && !('prediction_id' in object)) {
      const keys = Object.keys(object);
      throw new OffPolicyInputError(
        `${at}: (line): names neither prediction_id nor position; key every line by one of them` +
          `${keys.length > 0 ? ` (it names ${keys.join(', ')})` : ''}`,
      );
    }
    const lineMode = object && 'position' in object && !('prediction_id' in object) ? 'position' : 'prediction_id';
    if (mode === null) {
      mode = lineMode;
      if (mode === 'position') await trx.raw(CREATE_TARGET_KEYED);
    } else if (lineMode !== mode) {
      throw new OffPolicyInputError(
        `${at}: ${lineMode}: the file's first line is keyed by ${mode}; key every line by prediction_id or every line by position`,
      );
    }
    const parsed = (mode === 'position' ? byPositionSchema : byPredictionSchema).safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new OffPolicyInputError(`${at}: ${issue.path.join('.') || '(line)'}: ${issue.message}`);
    }
    const line = parsed.data;
    if ('prediction_id' in line) {
      if (seen.has(line.prediction_id))
        throw new OffPolicyInputError(`${at}: prediction_id: ${line.prediction_id} repeats an earlier line`);
      seen.add(line.prediction_id);
    } else {
      const context = Object.entries(line.context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const contextKeys = JSON.stringify(context.map(([key]) => key));
      keyed ??= { first: number, contextKeys };
      if (contextKeys !== keyed.contextKeys)
        throw new OffPolicyInputError(
          `${at}: context: names ${context.map(([key]) => key).join(', ') || 'no key'}, line ${keyed.first} ` +
            `${JSON.parse(keyed.contextKeys).join(', ') || 'no key'}; every line names the same context keys`,
        );
      const key = JSON.stringify([line.position, context]);
      if (seen.has(key)) throw new OffPolicyInputError(`${at}: position: ${line.position} with this context repeats an earlier line`);
      seen.add(key);
    }
    const hasRewards = line.expected_rewards !== undefined;
    if (withRewards !== null && hasRewards !== withRewards) {
      throw new OffPolicyInputError(
        `${at}: expected_rewards: give it on every line or on none (${withRewards ? 'earlier lines have it' : 'earlier lines do not'})`,
      );
    }
    withRewards = hasRewards;
    batch.push(line);
    if (batch.length === TARGET_BATCH) await flush();
  }
  await flush();
  if (withRewards === null) throw new OffPolicyInputError(`${file}: no target policy lines`);
  if (keyed) {
    // A context key no cohort prediction's segment has (a typo) would match nothing: say so, naming the line.
    const keys = JSON.parse(keyed.contextKeys) as string[];
    if (keys.length > 0) {
      const rows = (
        await trx.raw(
          'select k.key, exists (select 1 from hs_rounds r where r.segment -> k.key is not null) as found from unnest(:keys::text[]) k(key)',
          { keys },
        )
      ).rows as Array<{ key: string; found: boolean }>;
      const absent = rows.filter((row) => !row.found).map((row) => row.key);
      if (absent.length > 0) {
        const present = (
          (await trx.raw('select distinct jsonb_object_keys(r.segment) as key from hs_rounds r order by 1 limit 20')).rows as Array<{
            key: string;
          }>
        ).map((row) => row.key);
        throw new OffPolicyInputError(
          `${file} line ${keyed.first}: context.${absent[0]}: no prediction of the cohort has this segment key, so no line can match ` +
            `(${present.length > 0 ? `their segments name ${present.join(', ')}` : 'their segments are empty'})`,
        );
      }
    }
    await trx.raw(EXPAND_TARGET_KEYED);
  }
  return withRewards;
}
