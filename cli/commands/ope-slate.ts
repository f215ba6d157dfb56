/** `hindsight ope --slate`: the slate estimators (SIPS, IIPS, RIPS) of activities/off-policy/slate, printed. */
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import type { TargetPolicy } from '../../activities/off-policy/off-policy';
import { estimateSlateValue } from '../../activities/off-policy/slate';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { SLATE_ESTIMATORS, type SlatePropensity, type SlateReward } from '../../stats/off-policy-slate';
import { withDatabase } from '../context';
import { cohortSelectorFrom } from '../options';
import { EXIT, type Output } from '../output';

export interface SlateOpeOptions {
  model: string;
  version: string;
  environment?: string | undefined;
  from: string;
  to: string;
  labelDefinition: string;
  asOf: string;
  reward: string[];
  rewardValue?: boolean | undefined;
  slatePropensity?: SlatePropensity | undefined;
  slateReward?: SlateReward | undefined;
  resamples: number;
  seed: number;
  alpha: number;
  strict?: boolean | undefined;
}

const format = (value: number | null) => (value === null ? '—' : value.toFixed(4));

/** Runs the slate estimate, prints it and its warnings, and returns the exit code. */
export async function runSlateOpe(options: SlateOpeOptions, target: TargetPolicy, out: Output): Promise<number> {
  const document = await withDatabase(async (db) => {
    const cohort = cohortSelectorFrom(options);
    const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), cohort.model_name);
    return estimateSlateValue(db, {
      cohort,
      definition,
      asOf: options.asOf,
      rewardTypes: options.reward,
      rewardValue: Boolean(options.rewardValue),
      target,
      slate: { propensity: options.slatePropensity ?? 'position', reward: options.slateReward ?? 'sum' },
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
      `  slates: ${document.n_slates} requests of ${document.n_rows} predictions; propensities ${document.propensity === 'joint' ? 'joint (per slate)' : 'per position (independent)'}`,
      `  target ${document.target_policy.kind === 'file' ? document.target_policy.file : document.target_policy.kind}; ` +
        `slate reward ${document.reward.slate === 'sum' ? 'sum' : 'any'} of ${document.reward.kind} of ${document.reward.outcome_types.join(', ')}`,
      `  effective sample size ${format(document.effective_sample_size)}  max slate weight ${format(document.max_weight)}  ` +
        `logged policy value ${format(document.logged_policy_value)}`,
      ...SLATE_ESTIMATORS.map((name) => {
        const estimate = document.estimators[name];
        return `  ${name.padEnd(6)} ${format(estimate.value)}  ${level} [${format(estimate.ci_low)}, ${format(estimate.ci_high)}]`;
      }),
      `  bootstrap: ${document.bootstrap.resamples} resamples of slates, seed ${document.bootstrap.seed}`,
    ].join('\n');
  });
  for (const warning of [...document.warnings, ...document.reliability_warnings]) out.info(`hindsight: ope: warning: ${warning}`);
  if (options.strict && document.reliability_warnings.length > 0) {
    out.info(`hindsight: ope: --strict: the estimates above should not be trusted (${document.reliability_warnings.length} warning(s))`);
    return EXIT.fatal;
  }
  return document.warnings.length > 0 ? EXIT.partial : EXIT.ok;
}
