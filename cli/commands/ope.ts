import type { Command } from 'commander';
import { z } from 'zod';
import { timestampSchema } from '../../contracts/records';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { estimatePolicyValue, type TargetPolicy } from '../../activities/off-policy/off-policy';
import { ESTIMATORS } from '../../stats/off-policy';
import { runSlateOpe } from './ope-slate';
import { withDatabase } from '../context';
import { addCohortOptions, checkAsOf, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

const number = (check: z.ZodNumber) =>
  z
    .string()
    .regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'must be a number')
    .transform(Number)
    .pipe(check);

const opeOptionsSchema = z.intersection(
  cohortOptionsSchema,
  z.object({
    asOf: timestampSchema,
    reward: z
      .string()
      .min(1)
      .transform((text) => text.split(',').map((type) => type.trim()))
      .pipe(z.array(z.string().min(1, 'names an empty outcome type'))),
    rewardValue: z.boolean().optional(),
    targetPolicy: z.string().min(1).optional(),
    target: z
      .string()
      .regex(/^(greedy|epsilon-greedy:.*)$/, 'must be greedy or epsilon-greedy:E')
      .optional(),
    threshold: number(z.number().min(0).max(1)).optional(),
    clip: number(z.number().positive()).optional(),
    resamples: number(z.number().int().min(1).max(100_000)).default(1000),
    seed: number(
      z
        .number()
        .int()
        .min(0)
        .max(2 ** 32 - 1),
    ).default(1),
    alpha: number(z.number().gt(0).lt(1)).default(0.05),
    strict: z.boolean().optional(),
    slate: z.boolean().optional(),
    by: z.enum(['position'], { message: 'must be position' }).optional(),
    slatePropensity: z.enum(['position', 'joint'], { message: 'must be position or joint' }).optional(),
    slateReward: z.enum(['sum', 'any'], { message: 'must be sum or any' }).optional(),
  }),
);

function targetFrom(options: z.output<typeof opeOptionsSchema>): TargetPolicy {
  if ((options.targetPolicy === undefined) === (options.target === undefined))
    throw new UsageError('ope: give exactly one of --target-policy FILE and --target greedy|epsilon-greedy:E');
  if (options.targetPolicy !== undefined) {
    if (options.threshold !== undefined) throw new UsageError('ope: --threshold goes with --target, not --target-policy');
    return { kind: 'file', file: options.targetPolicy };
  }
  const threshold = options.threshold ?? null;
  if (options.target === 'greedy') return { kind: 'greedy', threshold };
  const text = options.target!.slice('epsilon-greedy:'.length);
  const epsilon = /^(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!(epsilon > 0 && epsilon <= 1)) throw new UsageError('ope: --target epsilon-greedy:E needs E in (0, 1]');
  return { kind: 'epsilon-greedy', epsilon, threshold };
}

const format = (value: number | null) => (value === null ? '—' : value.toFixed(4));

export function registerOpe(program: Command, setExit: (code: number) => void): void {
  addCohortOptions(
    program.command('ope').description("off-policy estimates (IPW, SNIPS, DM, DR) of a target policy's value on a cohort's logged traffic"),
    { asOf: true },
  )
    .requiredOption('--reward <types>', 'comma-separated outcome types: reward 1 when one joined the prediction within the window, else 0')
    .option('--reward-value', "the reward is the joined outcome's value instead (the latest that has one; 0 without)")
    .option(
      '--target-policy <file>',
      'NDJSON, one line per prediction: {"prediction_id", "action_probabilities": {...}, "expected_rewards": {...}}, ' +
        'or per position and context: {"position", "context": {...}, "action_probabilities": {...}}',
    )
    .option('--target <policy>', 'built-in target: greedy (the logged decision rule) or epsilon-greedy:E')
    .option('--threshold <t>', "the built-in target's threshold (default: each prediction's logged one)")
    .option('--clip <lambda>', 'clip the IPW and DR weights at lambda')
    .option('--resamples <n>', 'bootstrap resamples', '1000')
    .option('--seed <n>', 'bootstrap seed', '1')
    .option('--alpha <a>', 'intervals are two-sided at 1 - alpha', '0.05')
    .option('--by <what>', 'also estimate each logged position on its own: --by position')
    .option('--slate', "estimate per slate: a request's predictions, ordered by position, form one ranking (SIPS, IIPS, RIPS)")
    .option('--slate-propensity <kind>', "with --slate: position (each row's own, independence assumed; default) or joint (the slate's)")
    .option('--slate-reward <kind>', "with --slate: sum of the positions' rewards (default) or any (1 when any position earned)")
    .option('--strict', 'exit 2 when an estimate should not be trusted (the reliability warnings), instead of warning')
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(opeOptionsSchema, raw, 'ope');
      const target = targetFrom(options);
      const out = createOutput(Boolean(options.json));
      checkAsOf('ope', { start: options.from, end: options.to }, options.asOf, out.info);
      if (!options.slate && (options.slatePropensity !== undefined || options.slateReward !== undefined))
        throw new UsageError('ope: --slate-propensity and --slate-reward go with --slate');
      if (options.slate) {
        if (options.clip !== undefined) throw new UsageError('ope: --clip clips the per-row estimators; the slate estimators take no clip');
        if (options.by !== undefined) throw new UsageError('ope: --by position goes without --slate (a slate spans the positions)');
        setExit(await runSlateOpe(options, target, out));
        return;
      }
      const document = await withDatabase(async (db) => {
        const cohort = cohortSelectorFrom(options);
        const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), cohort.model_name);
        return estimatePolicyValue(db, {
          cohort,
          definition,
          asOf: options.asOf,
          rewardTypes: options.reward,
          rewardValue: Boolean(options.rewardValue),
          target,
          clip: options.clip ?? null,
          byPosition: options.by === 'position',
          resamples: options.resamples,
          seed: options.seed,
          alpha: options.alpha,
        });
      });
      out.result(document, () => {
        const level = `${Math.round((1 - document.bootstrap.alpha) * 1000) / 10}%`;
        return [
          `${document.cohort.model_name}@${document.cohort.model_version} [${document.cohort.start}, ${document.cohort.end}) ` +
            `as of ${document.as_of}`,
          `  target ${document.target_policy.kind === 'file' ? document.target_policy.file : document.target_policy.kind}; ` +
            `reward ${document.reward.kind} of ${document.reward.outcome_types.join(', ')}; reward model ${document.reward_model}`,
          `  n ${document.n}  effective sample size ${format(document.effective_sample_size)}  ` +
            `max weight ${format(document.max_weight)}  logged policy value ${format(document.logged_policy_value)}`,
          ...ESTIMATORS.map((name) => {
            const estimate = document.estimators[name];
            return `  ${name.padEnd(6)} ${format(estimate.value)}  ${level} [${format(estimate.ci_low)}, ${format(estimate.ci_high)}]`;
          }),
          ...(document.by_position ?? []).flatMap((part) => [
            `  position ${part.position ?? '(none)'}: n ${part.n}  effective sample size ${format(part.effective_sample_size)}  ` +
              `max weight ${format(part.max_weight)}`,
            ...ESTIMATORS.map((name) => {
              const estimate = part.estimators[name];
              return `    ${name.padEnd(6)} ${format(estimate.value)}  ${level} [${format(estimate.ci_low)}, ${format(estimate.ci_high)}]`;
            }),
          ]),
          `  bootstrap: ${document.bootstrap.resamples} resamples, seed ${document.bootstrap.seed}` +
            `${document.clip === null ? '' : `; IPW and DR weights clipped at ${document.clip}`}`,
        ].join('\n');
      });
      for (const warning of [...document.warnings, ...document.reliability_warnings]) out.info(`hindsight: ope: warning: ${warning}`);
      if (options.strict && document.reliability_warnings.length > 0) {
        out.info(
          `hindsight: ope: --strict: the estimates above should not be trusted (${document.reliability_warnings.length} warning(s))`,
        );
        setExit(EXIT.fatal);
        return;
      }
      // Predictions left out make the result partial; reliability warnings alone only warn.
      setExit(document.warnings.length > 0 ? EXIT.partial : EXIT.ok);
    });
}
