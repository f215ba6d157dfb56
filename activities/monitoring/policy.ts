import type { Knex } from 'knex';
import { z } from 'zod';
import { fixedDurationMs, isoDurationSchema } from '../../contracts/iso-duration';
import { labelDefinitionFields } from '../../contracts/label-definition';
import { timestampSchema } from '../../contracts/records';
import { putImmutableVersion, type PutOutcome } from '../evaluate/label-definitions';
import { checkFeatures, checkPolicy, formatPolicyIssues, textIssues } from './policy-checks';
import { maxAgeSchema, pagerDutySchema, slackSchema } from '../delivery/channels';
import { webhookSchema, webhookSecretIssues } from '../delivery/webhook-config';

/**
 * A monitoring policy: the alert rules of one model and what to do when they fire
 * (docs/alerts.md). Versioned and immutable like label definitions: a changed rule is a new
 * version with a changelog line.
 */

/** Metrics a rule may watch; the snapshot's own names (docs/metrics.md). */
export const BINARY_METRICS = [
  'recall',
  'precision',
  'f1',
  'roc_auc',
  'pr_auc',
  'brier',
  'log_loss',
  'ece',
  'ks',
  'base_rate',
  'mean_score',
  'expected_cost',
  'label_availability',
] as const;
export const REGRESSION_METRICS = ['mae', 'rmse', 'r2', 'bias', 'mean_score', 'mean_target', 'label_availability'] as const;
export type MetricName = (typeof BINARY_METRICS)[number] | (typeof REGRESSION_METRICS)[number];

/** Metrics where a larger value is worse, so a "drop" in quality is a rise. */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['brier', 'log_loss', 'ece', 'expected_cost', 'mae', 'rmse']);

const metricSchema = z.enum([...new Set([...BINARY_METRICS, ...REGRESSION_METRICS])] as [MetricName, ...MetricName[]]);
const sliceDimension = z
  .string()
  .regex(/^(region|environment|model_version|segment\.[A-Za-z0-9_]{1,63})$/, 'must be region, environment, model_version or segment.<key>');
const ruleName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . - only');
const share = z.number().gt(0).lt(1);

const previousBaseline = z.object({ kind: z.literal('previous') }).strict();
const meanOfLastBaseline = z.object({ kind: z.literal('mean_of_last'), k: z.number().int().min(1).max(104) }).strict();
const baselineSchema = z.discriminatedUnion('kind', [previousBaseline, meanOfLastBaseline]).default({ kind: 'previous' });
/**
 * A fixed reference range cut into chunks: the rule fires when the value leaves mean ± sigmas
 * standard deviations of the chunks' realized values, the band `hindsight estimate` draws
 * (./policy-checks checks the range, the chunk and sigmas at put).
 */
const bandBaseline = z
  .object({
    kind: z.literal('band'),
    reference: z.object({ from: timestampSchema, to: timestampSchema }).strict(),
    chunk: isoDurationSchema,
    sigmas: z.number().default(3),
  })
  .strict();
const bandOrBaselineSchema = z
  .discriminatedUnion('kind', [previousBaseline, meanOfLastBaseline, bandBaseline])
  .default({ kind: 'previous' });
export type BandBaseline = z.output<typeof bandBaseline>;

/** Fields every rule has: who it pages, how loudly, per slice or not, and its statistical gate. */
const common = {
  name: ruleName,
  severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  /** Snapshots the rule judges: checkpoint names (`P30D`, `final`, `adhoc`); all when absent. */
  checkpoints: z.array(z.string().min(1)).min(1).optional(),
  /** Also judge each value of these slice dimensions (of the label definition's slices). */
  slices: z.array(sliceDimension).default([]),
  /** A slice with fewer predictions than this is not judged. */
  min_slice_size: z.number().int().min(1).default(100),
  /** False-discovery rate across the groups (overall and slices) of one rule (Benjamini–Hochberg). */
  alpha: z.number().gt(0).lt(1).default(0.05),
  runbook: z.string().min(1).optional(),
  description: z.string().optional(),
  /**
   * Fire only when the value's own 95% interval excludes the baseline (or the bound, or the
   * band). No default, so policies stored before it keep their content hash.
   */
  require_interval: z.boolean().optional(),
};

const ruleSchema = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('relative_drop'), metric: metricSchema, max_drop: share, baseline: bandOrBaselineSchema }).strict(),
  z.object({ ...common, kind: z.literal('floor'), metric: metricSchema, min: z.number() }).strict(),
  z.object({ ...common, kind: z.literal('ceiling'), metric: metricSchema, max: z.number() }).strict(),
  z
    .object({
      ...common,
      kind: z.literal('label_availability'),
      /** Fires when availability is this much (absolute) below the expected curve. */
      tolerance: z.number().min(0).lt(1).default(0.05),
      /** How many earlier finalized cohorts the expected curve comes from. */
      history: z.number().int().min(1).max(104).default(4),
    })
    .strict(),
  z
    .object({
      ...common,
      kind: z.literal('stalled_feed'),
      /** Outcome types to watch; the label definition's named types when absent. */
      outcome_types: z.array(z.string().min(1)).min(1).optional(),
      max_silence: isoDurationSchema,
      check_every: isoDurationSchema.default('PT1H'),
    })
    .strict(),
  z
    .object({
      ...common,
      kind: z.literal('score_psi'),
      max: z.number().gt(0).default(0.2),
      /** Features whose PSI is also bounded: numeric ones over the reference's deciles, string-valued ones over their categories. */
      features: z.array(z.string().min(1)).default([]),
      baseline: z
        .object({ kind: z.literal('previous') })
        .strict()
        .default({ kind: 'previous' }),
    })
    .strict(),
  z
    .object({
      ...common,
      kind: z.literal('estimated_drop'),
      metric: z.enum(['precision', 'recall', 'roc_auc']),
      max_drop: share,
      baseline: bandOrBaselineSchema,
      /**
       * How scores are read as probabilities: through a calibrator fitted on the baseline's
       * labeled predictions, as `hindsight estimate --calibrate` does. Absent: isotonic when the
       * baseline has labels, else none (no default, so stored policies keep their hash).
       */
      calibrate: z.enum(['none', 'isotonic', 'platt']).optional(),
    })
    .strict(),
  z
    .object({
      ...common,
      kind: z.literal('projected_drop'),
      metric: z.enum(['recall', 'precision', 'positive_rate']),
      max_drop: share,
      baseline: baselineSchema,
    })
    .strict(),
]);

/** The alert webhook: how long a failing notification is retried before it expires (docs/alerts.md#delivery). */
const notificationWebhookSchema = webhookSchema({ max_age: maxAgeSchema.optional() });

const retrainingSchema = z
  .object({
    /** The rules whose alerts request retraining. */
    rules: z.array(ruleName).min(1),
    /** One request per model per quiet period; later evidence is merged into it. */
    quiet_period: isoDurationSchema.default('P7D'),
    /** Retrain even when the diagnosis says only the labels are at fault (normally skipped). */
    retrain_on_labeling: z.boolean().default(false),
    hook: z.union([
      z.object({ webhook: webhookSchema({}) }).strict(),
      z.object({ workflow: z.object({ type: z.string().min(1), task_queue: z.string().min(1) }).strict() }).strict(),
    ]),
    /** Cohort period of the schedule made for the new version when none exists for the old one. */
    every: isoDurationSchema.default('P7D'),
  })
  .strict();

const recalibrationSchema = z
  .object({
    /** The rules whose alerts start the recalibration workflow. */
    rules: z.array(ruleName).min(1),
    require_approval: z.boolean().default(false),
    /**
     * Recalibrate even when the diagnosis says only the labels are at fault (normally skipped).
     * No default, so policies stored before it keep their content hash.
     */
    recalibrate_on_labeling: z.boolean().optional(),
    method: z.enum(['platt', 'isotonic', 'auto']).default('auto'),
    /** It fits on the last `train_periods` finalized periods of `every` and judges on the `holdout_periods` after them. */
    every: isoDurationSchema.default('P7D'),
    train_periods: z.number().int().min(1).max(104).default(4),
    holdout_periods: z.number().int().min(1).max(52).default(1),
  })
  .strict();

export const policyFields = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . - only'),
    version: z.number().int().min(1),
    model_name: z.string().min(1),
    /** The label definition (NAME) whose snapshots the rules judge. */
    label_definition: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a label definition NAME'),
    rules: z.array(ruleSchema).min(1),
    /** Where alert changes go: a generic webhook, Slack, PagerDuty, any of them (docs/alerts.md#notifications). */
    notifications: z
      .object({ webhook: notificationWebhookSchema.optional(), slack: slackSchema.optional(), pagerduty: pagerDutySchema.optional() })
      .strict()
      .default({}),
    retraining: retrainingSchema.optional(),
    recalibration: recalibrationSchema.optional(),
    changelog: z.string().min(1).optional(),
    description: z.string().optional(),
  })
  .strict();

export const policySchema = policyFields.superRefine((policy, ctx) => {
  const names = policy.rules.map((rule) => rule.name);
  names.forEach((name, index) => {
    if (names.indexOf(name) < index)
      ctx.addIssue({ code: 'custom', path: ['rules', index, 'name'], message: `rule name ${name} repeats; name each rule once` });
  });
  for (const section of ['retraining', 'recalibration'] as const) {
    policy[section]?.rules.forEach((name, index) => {
      if (!names.includes(name)) ctx.addIssue({ code: 'custom', path: [section, 'rules', index], message: `no rule is named ${name}` });
    });
  }
  // Secrets by reference (docs/alerts.md#secrets): a literal credential is refused here, never on reading a stored policy.
  for (const issue of webhookSecretIssues(policy)) ctx.addIssue({ code: 'custom', ...issue });
  if (policy.version > 1 && !policy.changelog) {
    ctx.addIssue({ code: 'custom', path: ['changelog'], message: 'a new version needs a changelog line saying what changed' });
  }
});

export type MonitoringPolicy = z.output<typeof policySchema>;
export type PolicyRule = MonitoringPolicy['rules'][number];
export type RuleKind = PolicyRule['kind'];

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

/** The runbook an alert links to: the rule's own, or ours for its kind. */
export function runbookFor(rule: PolicyRule): string {
  return rule.runbook ?? `docs/runbooks/${rule.kind.replace(/_/g, '-')}.md`;
}

/**
 * Stores a policy version; the same content again is a no-op, other content under it is
 * refused. Checked completely first, against the latest version of its label definition
 * (./policy-checks): a policy that could only fail or never fire later is refused with every
 * issue named by its field, and nothing is stored. A later version keeps the model and the
 * label definition of the first: another one is another policy, under another name.
 * `warnings` are what could not be checked yet (features, before any prediction is stored).
 */
export async function putPolicy(
  db: Knex,
  input: unknown,
  where = 'policy',
): Promise<{ outcome: PutOutcome; policy: MonitoringPolicy; warnings: string[] }> {
  const parsed = policySchema.safeParse(input);
  const textual = textIssues(input);
  if (!parsed.success || textual.length > 0) {
    const shape = parsed.success ? [] : parsed.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message }));
    throw new PolicyError(formatPolicyIssues([...textual, ...shape], where));
  }
  const policy = parsed.data;
  const definitionRow = await db('label_definitions')
    .where({ name: policy.label_definition })
    .orderBy('version', 'desc')
    .first('model_name', 'definition');
  if (!definitionRow)
    throw new PolicyError(
      `${where}: label_definition: ${policy.label_definition} not found; store it first with: hindsight label-definition put FILE.json`,
    );
  if (definitionRow.model_name !== policy.model_name) {
    throw new PolicyError(
      `${where}: label_definition: ${policy.label_definition} labels model ${definitionRow.model_name}, not ${policy.model_name}`,
    );
  }
  const features = await checkFeatures(db, policy);
  const issues = [...checkPolicy(policy, labelDefinitionFields.parse(definitionRow.definition)), ...features.issues];
  if (issues.length > 0) throw new PolicyError(formatPolicyIssues(issues, where));
  const outcome = await db.transaction(async (trx) => {
    // One put of a name at a time, so two first versions cannot name different models.
    await trx.raw('select pg_advisory_xact_lock(hashtext(?), hashtext(?))', ['monitoring_policies', policy.name]);
    const first = await trx('monitoring_policies').where({ name: policy.name }).orderBy('version').first('version', 'model_name', 'policy');
    const kept =
      first && first.model_name !== policy.model_name
        ? { field: 'model_name', what: 'model', was: first.model_name as string }
        : first && first.policy.label_definition !== policy.label_definition
          ? { field: 'label_definition', what: 'label definition', was: first.policy.label_definition as string }
          : null;
    if (kept)
      throw new PolicyError(
        `${where}: ${kept.field}: ${policy.name}@${first.version} watches ${kept.what} ${kept.was}, and every version of a policy keeps it: ` +
          `a different ${kept.what} is a new policy name`,
      );
    const row = { name: policy.name, version: policy.version, model_name: policy.model_name, policy, changelog: policy.changelog ?? null };
    const store = { table: 'monitoring_policies', documents: 'policies', where, error: PolicyError };
    return putImmutableVersion(trx, store, row, policy);
  });
  return { outcome, policy, warnings: features.warnings };
}

/** `NAME` (latest version) or `NAME@VERSION`. */
export function parsePolicyRef(ref: string): { name: string; version?: number } {
  const match = /^([A-Za-z0-9_.-]+)(?:@(\d{1,9}))?$/.exec(ref);
  if (!match) throw new PolicyError(`policy reference "${ref}" must be NAME or NAME@VERSION`);
  return match[2] === undefined ? { name: match[1]! } : { name: match[1]!, version: Number(match[2]) };
}

export async function getPolicy(db: Knex, ref: { name: string; version?: number | undefined }): Promise<MonitoringPolicy> {
  const query = db('monitoring_policies').where({ name: ref.name });
  if (ref.version !== undefined) query.andWhere({ version: ref.version });
  const row = await query.orderBy('version', 'desc').first('policy');
  if (!row)
    throw new PolicyError(
      `policy ${ref.name}${ref.version ? `@${ref.version}` : ''} not found; store it with: hindsight policy put FILE.json`,
    );
  return policyFields.parse(row.policy);
}

/**
 * The policies in force for a model's snapshots under a label definition: the latest version
 * of each policy of that model naming that definition.
 */
export async function policiesInForce(db: Knex, modelName: string, labelDefinition: string): Promise<MonitoringPolicy[]> {
  const rows = await db('monitoring_policies as p')
    .where('p.model_name', modelName)
    .whereRaw(`p.policy->>'label_definition' = ?`, [labelDefinition])
    .whereRaw('p.version = (select max(version) from monitoring_policies q where q.name = p.name)')
    .orderBy('p.name')
    .select('p.policy');
  return rows.map((row: { policy: unknown }) => policyFields.parse(row.policy));
}

export async function listPolicies(
  db: Knex,
): Promise<Array<{ name: string; version: number; model_name: string; rules: number; changelog: string | null; created_at: Date }>> {
  const rows = await db('monitoring_policies')
    .select('name', 'version', 'model_name', 'policy', 'changelog', 'created_at')
    .orderBy(['name', 'version']);
  return rows.map(
    (row: {
      name: string;
      version: number;
      model_name: string;
      policy: { rules: unknown[] };
      changelog: string | null;
      created_at: Date;
    }) => ({
      name: row.name,
      version: row.version,
      model_name: row.model_name,
      rules: row.policy.rules.length,
      changelog: row.changelog,
      created_at: row.created_at,
    }),
  );
}
