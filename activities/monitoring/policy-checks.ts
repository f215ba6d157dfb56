/**
 * What `policy put` checks beyond the policy's shape (./policy.ts holds the schema): every
 * duration parsed and bounded for its use, metrics valid for the label definition's task and
 * bounds within the metric's range, checkpoints and slices the definition has, rule kinds that
 * can fire under it, the numeric features a `score_psi` rule names, and strings Postgres can
 * store. A policy that passes can be judged; one that fails is refused before anything is
 * stored, each issue naming its field (docs/alerts.md#what-policy-put-checks).
 *
 * The policy is read by its fields alone (structurally), so this file does not import
 * ./policy.ts, which imports it.
 */
import type { Knex } from 'knex';
import { durationBounds, fixedDurationMs } from '../../contracts/iso-duration';
import { itemTask, type LabelDefinition } from '../../contracts/label-definition';
import { CHUNK_METRICS } from '../../stats/cbpe-estimate';
import { MAX_CHUNKS } from '../estimate/estimate-chunks';

export interface PolicyIssue {
  path: Array<string | number>;
  message: string;
}

/** The fields of a rule the checks read; every rule kind of the schema fits it. */
interface CheckedRule {
  name: string;
  kind: string;
  metric?: string;
  checkpoints?: string[] | undefined;
  slices: string[];
  min?: number;
  max?: number;
  max_silence?: string;
  check_every?: string;
  features?: string[];
  baseline?: { kind: string; reference?: { from: string; to: string }; chunk?: string; sigmas?: number };
  require_interval?: boolean | undefined;
}

/** The fields of a parsed policy the checks read. */
export interface CheckedPolicy {
  version: number;
  model_name: string;
  rules: CheckedRule[];
  retraining?: { rules: string[]; quiet_period: string; every: string } | undefined;
  recalibration?: { rules: string[]; every: string } | undefined;
}

/** The version column is a Postgres integer. */
export const MAX_POLICY_VERSION = 2_147_483_647;

/** No duration a policy holds may last longer than this: `P10Y` at its longest (3,660 days). */
const LONGEST_SECONDS = durationBounds('P10Y').max;
/** Anything that repeats (a schedule's period, a check) repeats at most once a minute. */
const SHORTEST_REPEAT_SECONDS = 60;

/** Where a duration is used, and so what it must be. */
interface DurationUse {
  /** Used as a timer or a schedule's interval: months and years, which vary in length, are refused. */
  fixed: boolean;
  /** A schedule's interval: the server counts whole seconds. */
  wholeSeconds: boolean;
  /** Shortest allowed, in seconds: 60 for what repeats, 0 for a quiet period. */
  minSeconds: number;
  /** Zero allowed (a quiet period of PT0S debounces nothing); otherwise it must be longer than zero. */
  zero: boolean;
  /** What it is, for the message. */
  what: string;
}

const SCHEDULE_PERIOD = (what: string): DurationUse => ({
  fixed: true,
  wholeSeconds: true,
  minSeconds: SHORTEST_REPEAT_SECONDS,
  zero: false,
  what,
});

function checkDuration(value: string, path: Array<string | number>, use: DurationUse): PolicyIssue[] {
  const bounds = durationBounds(value);
  if (!(bounds.max <= LONGEST_SECONDS)) return [{ path, message: `${value} is longer than 10 years; ${use.what} may be at most P10Y` }];
  const fixedMs = fixedDurationMs(value);
  if (use.fixed && fixedMs === undefined)
    return [
      {
        path,
        message: `${value} has months or years, which vary in length; ${use.what} must be a fixed duration such as P7D, P30D or PT6H`,
      },
    ];
  if (bounds.max === 0 && !use.zero) return [{ path, message: `${value} is zero; ${use.what} must be longer than zero` }];
  if (bounds.max > 0 && bounds.min < use.minSeconds)
    return [{ path, message: `${value} is shorter than a minute; ${use.what} repeats, so it must be at least PT1M` }];
  if (use.wholeSeconds && fixedMs !== undefined && fixedMs % 1000 !== 0)
    return [{ path, message: `${value} is not a whole number of seconds; ${use.what} counts whole seconds` }];
  return [];
}

/** The metrics each task's snapshots carry, with the range their values lie in (a ranking definition's: those of its {@link itemTask}). */
const METRIC_RANGES: Record<ReturnType<typeof itemTask>, Record<string, { min: number; max: number }>> = {
  binary: {
    recall: { min: 0, max: 1 },
    precision: { min: 0, max: 1 },
    f1: { min: 0, max: 1 },
    roc_auc: { min: 0, max: 1 },
    pr_auc: { min: 0, max: 1 },
    brier: { min: 0, max: 1 },
    log_loss: { min: 0, max: Infinity },
    ece: { min: 0, max: 1 },
    ks: { min: 0, max: 1 },
    base_rate: { min: 0, max: 1 },
    mean_score: { min: 0, max: 1 },
    expected_cost: { min: 0, max: Infinity },
    label_availability: { min: 0, max: 1 },
  },
  regression: {
    mae: { min: 0, max: Infinity },
    rmse: { min: 0, max: Infinity },
    r2: { min: -Infinity, max: 1 },
    bias: { min: -Infinity, max: Infinity },
    mean_score: { min: -Infinity, max: Infinity },
    mean_target: { min: -Infinity, max: Infinity },
    label_availability: { min: 0, max: 1 },
  },
};

/** The metrics whose 95% interval a snapshot's counts give (Wilson's), the only ones `require_interval` can use. */
const COUNTED_METRICS = ['recall', 'precision', 'base_rate'] as const;

/** The metric names of a task (exported for the test that keeps them in step with the schema's lists). */
export const metricsOf = (task: ReturnType<typeof itemTask>): string[] => Object.keys(METRIC_RANGES[task]);

const rangeText = (range: { min: number; max: number }): string =>
  range.max === Infinity
    ? range.min === -Infinity
      ? 'any number'
      : `${range.min} or more`
    : `${range.min === -Infinity ? '' : range.min} … ${range.max}`;

/** Rule kinds whose numbers come from scores read as probabilities: binary definitions only. */
const BINARY_ONLY: Record<string, string> = {
  estimated_drop: 'the label-free estimate reads (calibrated) scores as probabilities',
  projected_drop: 'projections to finalization are made for binary definitions only',
};

/**
 * A band baseline: a reference range cut into at least two chunks (and at most as many as
 * `estimate` reads), sigmas above 0, a metric the band is drawn for, the whole cohort only.
 */
function checkBand(
  rule: CheckedRule,
  at: (...rest: Array<string | number>) => Array<string | number>,
  definition: LabelDefinition,
  def: string,
): PolicyIssue[] {
  const band = rule.baseline!;
  const issues: PolicyIssue[] = [];
  if (definition.task !== 'binary')
    issues.push({ path: at('baseline', 'kind'), message: `a band is drawn from binary metrics; ${def} is ${definition.task}` });
  else if (rule.metric !== undefined && !(CHUNK_METRICS as readonly string[]).includes(rule.metric))
    issues.push({
      path: at('metric'),
      message: `a band baseline is drawn for ${CHUNK_METRICS.join(', ')}; ${rule.metric} is not one of them`,
    });
  if (rule.slices.length > 0)
    issues.push({
      path: at('slices'),
      message: 'a band baseline is drawn for the whole cohort; judge slices with a previous or mean_of_last baseline',
    });
  if (band.sigmas !== undefined && !(band.sigmas > 0))
    issues.push({
      path: at('baseline', 'sigmas'),
      message: `${band.sigmas} is not above 0; the band is mean ± sigmas standard deviations`,
    });
  const from = Date.parse(band.reference!.from);
  const to = Date.parse(band.reference!.to);
  if (!(from < to)) {
    issues.push({
      path: at('baseline', 'reference', 'from'),
      message: `${band.reference!.from} is not before reference.to ${band.reference!.to}`,
    });
    return issues;
  }
  const chunk = checkDuration(band.chunk!, at('baseline', 'chunk'), {
    fixed: false,
    wholeSeconds: false,
    minSeconds: 0,
    zero: false,
    what: 'a reference chunk',
  });
  if (chunk.length > 0) return [...issues, ...chunk];
  const { min, max } = durationBounds(band.chunk!);
  if (from + min * 1000 >= to)
    issues.push({
      path: at('baseline', 'chunk'),
      message:
        `${band.chunk} cuts the reference [${band.reference!.from}, ${band.reference!.to}) into fewer than 2 chunks; ` +
        `a band needs at least 2: give a shorter chunk or a longer reference`,
    });
  else if ((to - from) / (max * 1000) > MAX_CHUNKS)
    issues.push({
      path: at('baseline', 'chunk'),
      message: `${band.chunk} cuts the reference into more than ${MAX_CHUNKS} chunks; give a longer chunk`,
    });
  return issues;
}

/**
 * Checks a parsed policy against the latest version of its label definition: everything that
 * would otherwise only fail (or never fire) when a workflow uses it. Pure.
 */
export function checkPolicy(policy: CheckedPolicy, definition: LabelDefinition): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const def = `label definition ${definition.name}@${definition.version}`;
  if (policy.version > MAX_POLICY_VERSION)
    issues.push({ path: ['version'], message: `${policy.version} is too large; a version is 1 … ${MAX_POLICY_VERSION}` });
  const checkpoints = [...definition.checkpoints, 'final', 'adhoc'];
  const ranges = METRIC_RANGES[itemTask(definition)];
  policy.rules.forEach((rule, index) => {
    const at = (...rest: Array<string | number>) => ['rules', index, ...rest];
    rule.checkpoints?.forEach((checkpoint, k) => {
      if (!checkpoints.includes(checkpoint))
        issues.push({
          path: at('checkpoints', k),
          message: `${checkpoint} is not a checkpoint of ${def}; use one of ${checkpoints.join(', ')}`,
        });
    });
    rule.slices.forEach((slice, k) => {
      if (!definition.slices.includes(slice))
        issues.push({
          path: at('slices', k),
          message:
            `${slice} is not a slice of ${def}` +
            (definition.slices.length > 0
              ? `; use one of ${definition.slices.join(', ')}`
              : ', which has none; add it to its slices first'),
        });
    });
    if (rule.kind in BINARY_ONLY && definition.task !== 'binary')
      issues.push({
        path: at('kind'),
        message: `${rule.kind} needs a binary label definition: ${BINARY_ONLY[rule.kind]}; ${def} is ${definition.task}`,
      });
    if (rule.kind === 'label_availability' && definition.absent_means === 'negative')
      issues.push({
        path: at('kind'),
        message:
          `label_availability can never fire under ${def}: with absent_means negative every prediction counts as labeled; ` +
          `watch the label feed with a stalled_feed rule instead`,
      });
    if ((rule.kind === 'relative_drop' || rule.kind === 'floor' || rule.kind === 'ceiling') && rule.metric !== undefined) {
      const range = ranges[rule.metric];
      if (!range) {
        issues.push({
          path: at('metric'),
          message: `${rule.metric} is not a ${definition.task} metric (${def} is ${definition.task}); use one of ${Object.keys(ranges).join(', ')}`,
        });
      } else if (rule.metric === 'expected_cost' && !definition.costs) {
        issues.push({ path: at('metric'), message: `expected_cost needs costs, and ${def} has none; add costs to the definition first` });
      } else {
        const field = rule.kind === 'floor' ? 'min' : 'max';
        const bound = rule.kind === 'floor' ? rule.min : rule.kind === 'ceiling' ? rule.max : undefined;
        if (bound !== undefined && (bound < range.min || bound > range.max)) {
          // A floor above every possible value, or a ceiling below it, always fires; the other way round, never.
          const always = rule.kind === 'floor' ? bound > range.max : bound < range.min;
          issues.push({
            path: at(field),
            message: `${bound} is outside the range of ${rule.metric} (${rangeText(range)}), so the rule would ${always ? 'always' : 'never'} fire`,
          });
        }
      }
    }
    if (rule.baseline?.kind === 'band') issues.push(...checkBand(rule, at, definition, def));
    if (rule.require_interval && (rule.kind === 'score_psi' || rule.kind === 'stalled_feed'))
      issues.push({
        path: at('require_interval'),
        message: `a ${rule.kind} rule judges no metric with an interval; remove require_interval`,
      });
    else if (
      rule.require_interval &&
      (rule.kind === 'relative_drop' || rule.kind === 'floor' || rule.kind === 'ceiling') &&
      rule.metric !== undefined &&
      !(COUNTED_METRICS as readonly string[]).includes(rule.metric)
    )
      // A lifecycle's snapshots carry counts, not intervals: only a proportion's can be drawn
      // there, and a rule waiting on any other interval would never fire.
      issues.push({
        path: at('require_interval'),
        message: `a snapshot gives an interval for ${COUNTED_METRICS.join(', ')} only (from its counts); ${rule.metric} has none, so the rule would never fire; remove require_interval`,
      });
    if (rule.kind === 'stalled_feed') {
      if (rule.max_silence !== undefined)
        issues.push(
          ...checkDuration(rule.max_silence, at('max_silence'), {
            fixed: false,
            wholeSeconds: false,
            minSeconds: 0,
            zero: false,
            what: 'the longest silence',
          }),
        );
      if (rule.check_every !== undefined)
        issues.push(...checkDuration(rule.check_every, at('check_every'), SCHEDULE_PERIOD("the feed check's schedule period")));
    }
  });
  const kinds = new Map(policy.rules.map((rule) => [rule.name, rule.kind]));
  if (policy.retraining) {
    issues.push(
      ...checkDuration(policy.retraining.quiet_period, ['retraining', 'quiet_period'], {
        fixed: true,
        wholeSeconds: false,
        minSeconds: 0,
        zero: true,
        what: 'the quiet period, a workflow timer,',
      }),
    );
    issues.push(
      ...checkDuration(policy.retraining.every, ['retraining', 'every'], SCHEDULE_PERIOD("the new version's cohort schedule period")),
    );
  }
  if (policy.recalibration) {
    issues.push(...checkDuration(policy.recalibration.every, ['recalibration', 'every'], SCHEDULE_PERIOD('the recalibration period')));
    if (definition.task !== 'binary')
      issues.push({
        path: ['recalibration'],
        message: `recalibration fits a calibrator of probabilities and needs a binary label definition; ${def} is ${definition.task}`,
      });
  }
  for (const section of ['retraining', 'recalibration'] as const) {
    policy[section]?.rules.forEach((name, k) => {
      if (kinds.get(name) === 'stalled_feed')
        issues.push({
          path: [section, 'rules', k],
          message: `${name} is a stalled_feed rule; its alerts come from the feed check and never ask for ${section}`,
        });
    });
  }
  return issues;
}

/**
 * Strings Postgres stores as they are: no NUL (jsonb refuses \u0000) and no unpaired UTF-16
 * surrogate (`"\ud800"` in JSON is no character). Object keys are strings too.
 */
export function textIssues(input: unknown, path: Array<string | number> = []): PolicyIssue[] {
  const bad = (text: string): string | null =>
    text.includes('\u0000')
      ? 'contains a NUL character (\\u0000), which cannot be stored'
      : /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)
        ? 'contains an unpaired surrogate (such as \\ud800), which is no Unicode character'
        : null;
  if (typeof input === 'string') {
    const problem = bad(input);
    return problem ? [{ path, message: problem }] : [];
  }
  if (Array.isArray(input)) return input.flatMap((item, index) => textIssues(item, [...path, index]));
  if (input !== null && typeof input === 'object')
    return Object.entries(input).flatMap(([key, value]) => {
      const problem = bad(key);
      return problem
        ? [{ path: [...path, key.replace(/[\u0000-\u001f\ud800-\udfff]/g, '?')], message: `this key ${problem}` }]
        : textIssues(value, [...path, key]);
    });
  return [];
}

/** How long the feature check may read before it gives up and warns instead. */
const FEATURE_CHECK_TIMEOUT = '3s';

/**
 * The features `score_psi` rules name, checked against the model's stored predictions: a
 * feature no stored prediction carries as a number or a string is refused (PSI is computed
 * over a numeric feature's deciles or a string-valued one's categories); with no prediction
 * stored yet, or when the check takes too long, each is a warning instead.
 */
export async function checkFeatures(db: Knex, policy: CheckedPolicy): Promise<{ issues: PolicyIssue[]; warnings: string[] }> {
  const named = policy.rules.flatMap((rule, index) =>
    rule.kind === 'score_psi' ? (rule.features ?? []).map((feature, k) => ({ feature, path: ['rules', index, 'features', k] })) : [],
  );
  const result = { issues: [] as PolicyIssue[], warnings: [] as string[] };
  if (named.length === 0) return result;
  const features = [...new Set(named.map((n) => n.feature))];
  let checked: { found: Set<string>; known: string[] } | null;
  try {
    checked = await db.transaction(async (trx) => {
      await trx.raw(`set local statement_timeout = '${FEATURE_CHECK_TIMEOUT}'`);
      const { rows } = await trx.raw(
        `select f.feature,
                exists (select 1 from predictions p
                        where p.model_name = :model and jsonb_typeof(p.features -> f.feature) in ('number', 'string')) as present
         from unnest(:features::text[]) as f(feature)
         where exists (select 1 from predictions where model_name = :model)`,
        { model: policy.model_name, features },
      );
      if (rows.length === 0) return null;
      const found = new Set<string>(rows.filter((row: { present: boolean }) => row.present).map((row: { feature: string }) => row.feature));
      if (found.size === features.length) return { found, known: [] };
      const seen = await trx.raw(
        `select distinct e.key
         from (select features from predictions where model_name = :model and features is not null limit 1000) p
         cross join lateral jsonb_each(p.features) as e(key, value)
         where jsonb_typeof(e.value) in ('number', 'string') order by e.key limit 20`,
        { model: policy.model_name },
      );
      return { found, known: seen.rows.map((row: { key: string }) => row.key) };
    });
  } catch (error) {
    // 57014: the statement timeout; the check is a courtesy, not worth a long wait.
    if ((error as { code?: string }).code !== '57014') throw error;
    result.warnings.push(
      `score_psi features (${features.join(', ')}) not checked: reading model ${policy.model_name}'s predictions took too long`,
    );
    return result;
  }
  if (checked === null) {
    result.warnings.push(
      `score_psi features (${features.join(', ')}) not checked: no prediction of model ${policy.model_name} is stored yet; ` +
        `a feature its predictions lack will make the rule's judgement an error`,
    );
    return result;
  }
  const { found, known } = checked;
  for (const { feature, path } of named) {
    if (!found.has(feature))
      result.issues.push({
        path,
        message:
          `${feature} is not a numeric or string-valued feature of any stored prediction of model ${policy.model_name}; ` +
          `features seen: ${known.join(', ') || '(none)'}`,
      });
  }
  return result;
}

/** Issues as `put` reports them, one a line: `policy.json: rules.2.max_silence: …`. */
export function formatPolicyIssues(issues: PolicyIssue[], where: string): string {
  return issues.map((issue) => `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`).join('\n');
}
