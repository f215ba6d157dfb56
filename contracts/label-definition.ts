/**
 * A label definition: what counts as a positive, within which window, evaluated when
 * (docs/label-semantics.md). The schema and the pure helpers live here, below every layer
 * that reads a definition; storing and loading one is activities/evaluate/label-definitions.
 */
import { z } from 'zod';
import { durationBounds, isoDurationSchema } from './iso-duration';

/** Slice dimensions a definition may name: fixed prediction columns or `segment.<key>`. */
const sliceSchema = z
  .string()
  .regex(/^(region|environment|model_version|segment\.[A-Za-z0-9_]{1,63})$/, 'must be region, environment, model_version or segment.<key>');

const outcomeTypes = z.array(z.string().min(1)).default([]);

/**
 * Hindsight's timestamps end with year 9999 (four-digit ISO years round-trip through
 * Postgres and JavaScript; Postgres itself ends at 294276 AD, JavaScript at 275760), so a
 * label delay is held far below that: no real label takes a century.
 */
const MAX_LABEL_DELAY_SECONDS = 100 * 366 * 86400;
const CALENDAR_NOTE = 'a month lasts 28 to 31 days and a year 365 or 366';

/**
 * Durations that evaluation can use on every input: a window and checkpoints longer than
 * zero, checkpoints in increasing order and shorter than the window whatever the calendar
 * (so P1M against P30D is refused, not decided by the month), and `ts_pred + window +
 * late_label_grace` inside the timestamps both Postgres and JavaScript can hold.
 */
function checkDurations(
  def: { window: string; checkpoints: string[]; late_label_grace: string; leakage_horizon?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  const window = durationBounds(def.window);
  // ts_pred - leakage_horizon must stay a timestamp too (they begin with year 0001 here).
  if (def.leakage_horizon !== undefined && !(durationBounds(def.leakage_horizon).max <= MAX_LABEL_DELAY_SECONDS)) {
    ctx.addIssue({
      code: 'custom',
      path: ['leakage_horizon'],
      message: `${def.leakage_horizon} is too long: leakage_horizon may be at most 100 years`,
    });
  }
  if (window.max === 0)
    ctx.addIssue({ code: 'custom', path: ['window'], message: `${def.window} is zero; a label window must be longer than zero` });
  const grace = durationBounds(def.late_label_grace);
  if (!(window.max + grace.max <= MAX_LABEL_DELAY_SECONDS)) {
    ctx.addIssue({
      code: 'custom',
      path: [grace.max > window.max ? 'late_label_grace' : 'window'],
      message:
        `window ${def.window} + late_label_grace ${def.late_label_grace} is too long: ` +
        `window + late_label_grace may be at most 100 years, ` +
        `so that ts_pred + window stays inside the timestamp range (which ends at year 9999)`,
    });
    return;
  }
  def.checkpoints.forEach((checkpoint, index) => {
    const bounds = durationBounds(checkpoint);
    const previous = index > 0 ? def.checkpoints[index - 1]! : null;
    if (bounds.max === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['checkpoints', index],
        message: `checkpoint ${checkpoint} is zero; a checkpoint must be longer than zero`,
      });
    } else if (previous !== null && def.checkpoints.indexOf(checkpoint) < index) {
      ctx.addIssue({
        code: 'custom',
        path: ['checkpoints', index],
        message: `checkpoint ${checkpoint} repeats; list each checkpoint once`,
      });
    } else if (previous !== null && durationBounds(previous).max >= bounds.min) {
      const certain = durationBounds(previous).min >= bounds.max;
      ctx.addIssue({
        code: 'custom',
        path: ['checkpoints', index],
        message:
          `checkpoint ${checkpoint} is not ${certain ? '' : 'always '}longer than the one before it, ` +
          `${previous}${certain ? '' : ` (${CALENDAR_NOTE})`}; list checkpoints in increasing order`,
      });
    }
    if (bounds.max >= window.min) {
      const certain = bounds.min >= window.max;
      ctx.addIssue({
        code: 'custom',
        path: ['checkpoints', index],
        message:
          `checkpoint ${checkpoint} is not ${certain ? '' : 'always '}shorter than the window ${def.window}` +
          `${certain ? '' : ` (${CALENDAR_NOTE})`}`,
      });
    }
  });
}

/** The fields of a definition, with their defaults; {@link labelDefinitionSchema} adds the rules of put. */
export const labelDefinitionFields = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . - only'),
    version: z.number().int().min(1),
    model_name: z.string().min(1),
    task: z.enum(['binary', 'regression', 'ranking']),
    window: isoDurationSchema,
    checkpoints: z.array(isoDurationSchema).default([]),
    positive_outcome_types: outcomeTypes,
    negative_outcome_types: outcomeTypes,
    /** Regression: the outcome types whose `value` is the target. */
    outcome_types: outcomeTypes,
    absent_means: z.enum(['negative', 'unknown']).default('negative'),
    entity_key: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,63}$/)
      .optional(),
    slices: z.array(sliceSchema).default([]),
    decision_threshold: z.number().min(0).max(1).default(0.5),
    /**
     * Binary: what decided each prediction, for precision, recall, F1, costs and values:
     * `threshold` (score ≥ its threshold, the default) or `logged` (its logged `decision`).
     * No schema default, so a definition stored without it keeps its canonical form and hash.
     */
    decision_source: z.enum(['threshold', 'logged']).optional(),
    /** With `decision_source: logged`: the logged decisions that mean positive ({@link positiveDecisions}). */
    positive_decisions: z.array(z.string().min(1)).min(1).optional(),
    /** Ranking: the cut-off of NDCG@k, hit rate@k, precision@k and recall@k ({@link rankingCutoff}: 10 when absent). */
    k: z.number().int().min(1).max(1000).optional(),
    costs: z
      .object({ fp: z.number().min(0), fn: z.number().min(0) })
      .strict()
      .optional(),
    late_label_grace: isoDurationSchema.default('P30D'),
    /**
     * How long before a prediction an attributed outcome still counts as
     * rejected_before_prediction (leakage); older ones are history. No schema default, so a
     * definition stored without it keeps its canonical form and content hash: absent means
     * the window ({@link leakageHorizon}).
     */
    leakage_horizon: isoDurationSchema.optional(),
    changelog: z.string().min(1).optional(),
    description: z.string().optional(),
  })
  .strict();

export const labelDefinitionSchema = labelDefinitionFields.superRefine((def, ctx) => {
  if (def.task === 'binary' && def.positive_outcome_types.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['positive_outcome_types'],
      message: 'a binary definition needs at least one positive outcome type',
    });
  }
  if (def.task === 'regression' && def.outcome_types.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['outcome_types'], message: 'a regression definition needs at least one outcome type' });
  }
  if (def.task === 'ranking' && (def.positive_outcome_types.length === 0) === (def.outcome_types.length === 0)) {
    ctx.addIssue({
      code: 'custom',
      path: ['positive_outcome_types'],
      message:
        'a ranking definition needs either positive_outcome_types (relevance 1 when one joined) ' +
        'or outcome_types (graded relevance: the outcome value), not both',
    });
  }
  if (def.k !== undefined && def.task !== 'ranking')
    ctx.addIssue({ code: 'custom', path: ['k'], message: `k is the cut-off of ranking metrics; this definition's task is ${def.task}` });
  if (def.decision_source === 'logged' && def.task !== 'binary')
    ctx.addIssue({
      code: 'custom',
      path: ['decision_source'],
      message: `logged decisions decide binary predictions; this definition's task is ${def.task}`,
    });
  if (def.positive_decisions !== undefined && def.decision_source !== 'logged')
    ctx.addIssue({ code: 'custom', path: ['positive_decisions'], message: 'positive_decisions needs decision_source: logged' });
  checkDurations(def, ctx);
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

/**
 * Under `decision_source: logged`, the logged `decision` texts that count as a positive
 * decision: the definition's `positive_decisions`, or `true` and `1` (a boolean or number
 * logged as the decision); any other logged text is a negative decision.
 */
export function positiveDecisions(def: Pick<LabelDefinition, 'positive_decisions'>): string[] {
  return def.positive_decisions ?? ['true', '1'];
}

/** The definition's leakage horizon: its `leakage_horizon`, or the window when it has none. */
export function leakageHorizon(def: LabelDefinition): string {
  return def.leakage_horizon ?? def.window;
}

/**
 * How each prediction is labeled: binary and regression as their task says; a ranking
 * definition labels each shown item like a binary one (relevance 1 for a positive outcome
 * type) or, with `outcome_types`, like a regression one (graded relevance: the value).
 */
export function itemTask(def: Pick<LabelDefinition, 'task' | 'outcome_types'>): 'binary' | 'regression' {
  if (def.task === 'ranking') return def.outcome_types.length > 0 ? 'regression' : 'binary';
  return def.task;
}

/** The k of a ranking definition's metrics: its `k`, 10 by default. */
export function rankingCutoff(def: Pick<LabelDefinition, 'k'>): number {
  return def.k ?? 10;
}

/** Outcome types that take part in the join for this definition. */
export function namedOutcomeTypes(def: LabelDefinition): string[] {
  return [...new Set([...def.positive_outcome_types, ...def.negative_outcome_types, ...def.outcome_types])];
}

export function formatIssues(error: z.ZodError, where: string): string {
  return error.issues.map((issue) => `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`).join('\n');
}

/** `NAME` (latest version) or `NAME@VERSION`. */
export function parseLabelDefinitionRef(ref: string): { name: string; version?: number } {
  const match = /^([A-Za-z0-9_.-]+)(?:@(\d+))?$/.exec(ref);
  if (!match) throw new LabelDefinitionError(`label definition reference "${ref}" must be NAME or NAME@VERSION`);
  if (match[2] === undefined) return { name: match[1]! };
  // The version column is an integer: a larger one would fail in the database instead.
  const version = Number(match[2]);
  if (version < 1 || version > 2_147_483_647)
    throw new LabelDefinitionError(`label definition reference "${ref}": version must be 1 … 2147483647`);
  return { name: match[1]!, version };
}
