import type { Knex } from 'knex';
import {
  CREATE_ROUNDS,
  DECISION_RULE,
  FILE_TARGET_ROUNDS,
  LOGGED_ACTIONS,
  POSITIONS_LOGGED,
  UNSCORED_ROUNDS,
  ROUND_COUNTS,
  RULE_TARGET_ROUNDS,
  UNLOGGED_TARGET_ACTIONS,
  WITHOUT_TARGET,
} from '../../sql/off-policy';
import { CREATE_MATCHES, joinBindingsFor } from '../../sql/join-outcomes';
import type { CohortSelector } from '../../contracts/cohort';
import type { LabelDefinition } from '../../contracts/label-definition';
import {
  estimateOffPolicy,
  reliabilityWarnings,
  type Estimate,
  type EstimatorName,
  type LoggedRounds,
  type ReliabilityFacts,
} from '../../stats/off-policy';
import { mulberry32 } from '../../stats/seeded-random';
import { loadTargetFile, OffPolicyInputError } from './target-file';
import { estimateByPosition, meanOf, rangeOf, type PositionEstimate, type RoundSupport } from './by-position';

/** The policy whose value is estimated (docs/off-policy.md). */
export type TargetPolicy =
  | { kind: 'file'; file: string }
  /** The logged decision rule at another threshold (each prediction's own when null). */
  | { kind: 'greedy'; threshold: number | null }
  | { kind: 'epsilon-greedy'; epsilon: number; threshold: number | null };

export interface OffPolicyInput {
  cohort: CohortSelector;
  definition: LabelDefinition;
  asOf: string;
  /** Outcome types whose join within the definition's window makes the reward. */
  rewardTypes: string[];
  /** The reward is the outcome's `value` rather than 1. */
  rewardValue: boolean;
  target: TargetPolicy;
  /** λ: IPW's and DR's weights are clipped at it; null for none. */
  clip: number | null;
  /** Also estimate each logged position on its own (`ope --by position`). */
  byPosition?: boolean;
  resamples: number;
  seed: number;
  alpha: number;
}

/** What `hindsight ope --json` prints. */
export interface OffPolicyDocument {
  cohort: CohortSelector;
  label_definition: { name: string; version: number; window: string };
  as_of: string;
  reward: { outcome_types: string[]; kind: 'indicator' | 'value' };
  target_policy: TargetPolicy & { actions?: { above: string; below: string } };
  /** Where q̂ of DM and DR comes from. */
  reward_model: 'target_policy_file' | 'per_action_mean' | 'per_action_position_mean';
  estimators: Record<EstimatorName, Estimate>;
  n: number;
  effective_sample_size: number | null;
  max_weight: number | null;
  /** Mean over the rounds of the target policy's probability on actions no usable round logged. */
  unlogged_target_share: number | null;
  /** With `byPosition`: the estimate of each logged position. */
  by_position?: PositionEstimate[];
  logged_policy_value: number | null;
  clip: number | null;
  bootstrap: { resamples: number; seed: number; alpha: number };
  /** Cohort predictions left out of every estimate, by reason. */
  excluded: { no_action: number; no_propensity: number; no_target_policy: number };
  /** Predictions left out (exit 1 on the command line). */
  warnings: string[];
  /** Why the estimates should not be trusted as they stand (stats/off-policy `reliabilityWarnings`; `ope --strict` fails on them). */
  reliability_warnings: string[];
}

export { loadTargetFile, OffPolicyInputError };

/**
 * The logged decision rule of a two-action log: the action taken most often at or above each
 * prediction's threshold and the one below it, on policy traffic.
 */
export async function loggedRule(trx: Knex.Transaction): Promise<{ above: string; below: string }> {
  const unscored = Number((await trx.raw(UNSCORED_ROUNDS)).rows[0].n);
  if (unscored > 0)
    throw new OffPolicyInputError(
      `the built-in greedy targets place each prediction's score against a threshold; ${unscored} usable prediction(s) ` +
        'of the cohort log no score; give --target-policy FILE instead',
    );
  const actions = ((await trx.raw(LOGGED_ACTIONS)).rows as Array<{ action: string }>).map((row) => row.action);
  const rows = (await trx.raw(DECISION_RULE)).rows as Array<{ action: string; above: boolean; n: string | number }>;
  const mode = (above: boolean) =>
    rows.filter((row) => row.above === above).sort((a, b) => Number(b.n) - Number(a.n) || (a.action < b.action ? -1 : 1))[0]?.action;
  const above = mode(true);
  const below = mode(false);
  if (actions.length !== 2 || above === undefined || below === undefined || above === below) {
    throw new OffPolicyInputError(
      `the built-in greedy targets need a log of two actions decided by a threshold (one at or above it, the other below); ` +
        `this cohort logs ${actions.length} action(s)${actions.length > 0 ? ` (${actions.slice(0, 5).join(', ')}${actions.length > 5 ? ', …' : ''})` : ''}` +
        `${above !== undefined && above === below ? `, ${above} on both sides of the threshold` : ''}; give --target-policy FILE instead`,
    );
  }
  return { above, below };
}

/**
 * What a cohort's predictions left out of an estimate say: those with an action but no
 * propensity, those with neither action nor decision, those the target file has no line for;
 * `consequence` says what leaving them out means for the estimate (per row or per slate).
 */
export function leftOutWarnings(
  counts: { noPropensity: number; noAction: number; noTarget: number },
  target: TargetPolicy,
  consequence: string,
): string[] {
  const warnings: string[] = [];
  if (counts.noPropensity > 0)
    warnings.push(`${counts.noPropensity} predictions of the cohort have an action but no logged propensity; ${consequence}`);
  if (counts.noAction > 0)
    warnings.push(`${counts.noAction} predictions of the cohort log neither an action nor a decision; ${consequence}`);
  if (counts.noTarget > 0)
    warnings.push(
      `${counts.noTarget} predictions of the cohort have no line in ${target.kind === 'file' ? target.file : 'the target policy'}; ${consequence}`,
    );
  return warnings;
}

/**
 * When no round earned anything, whether the reward's outcome types were ever received: a
 * mistyped `--reward` (or outcomes without a value under `--reward-value`) makes every
 * estimate 0 without any other sign. Returns the reliability warning, or null.
 */
export async function zeroRewardWarning(
  trx: Knex.Transaction,
  input: { rewardTypes: string[]; rewardValue: boolean },
  asOf: string,
  rewards: ArrayLike<number>,
): Promise<string | null> {
  if (rewards.length === 0) return null;
  for (let i = 0; i < rewards.length; i += 1) if (rewards[i] !== 0) return null;
  const types = input.rewardTypes.join(', ');
  const received = (
    await trx.raw(
      `select exists (select 1 from outcomes o where o.outcome_type = any(:types::text[]) and o.ts_received <= :as_of::timestamptz
                      ${input.rewardValue ? 'and o.value is not null' : ''}) as found`,
      { types: input.rewardTypes, as_of: asOf },
    )
  ).rows[0].found as boolean;
  if (received)
    return `every round's reward is 0: no outcome of type ${types}${input.rewardValue ? ' with a nonzero value' : ''} joined a usable prediction as of ${asOf}`;
  return (
    `every round's reward is 0: no outcome of type ${types}${input.rewardValue ? ' with a value' : ''} was received by ${asOf} ` +
    `at all; check --reward${input.rewardValue ? ' and --reward-value' : ''} (the outcome types as ingested)`
  );
}

/** Streams the per-round numbers into typed arrays of the known length. */
async function readRounds(
  trx: Knex.Transaction,
  sql: string,
  bindings: Record<string, unknown>,
  n: number,
): Promise<{ rounds: LoggedRounds; support: RoundSupport }> {
  const support: RoundSupport = { position: new Float64Array(n), unlogged: new Float64Array(n) };
  const rounds: LoggedRounds = {
    propensity: new Float64Array(n),
    target: new Float64Array(n),
    reward: new Float64Array(n),
    direct: new Float64Array(n),
    modeled: new Float64Array(n),
  };
  let i = 0;
  const stream = trx.raw(sql, bindings).stream({ batchSize: 10_000, highWaterMark: 10_000 });
  for await (const row of stream as AsyncIterable<Record<keyof LoggedRounds | 'unlogged', number> & { position: number | null }>) {
    support.position[i] = row.position ?? Number.NaN;
    support.unlogged[i] = row.unlogged;
    rounds.propensity[i] = row.propensity;
    rounds.target[i] = row.target;
    rounds.reward[i] = row.reward;
    rounds.direct[i] = row.direct;
    rounds.modeled[i] = row.modeled;
    i += 1;
  }
  if (i !== n) throw new Error(`off-policy rounds: expected ${n}, read ${i}`);
  return { rounds, support };
}

/**
 * Estimates the value of a target policy on a cohort's logged traffic as of a moment: the
 * join runs with the reward's outcome types in one REPEATABLE READ snapshot, SQL reduces each
 * prediction to its round, and the estimators and the seeded bootstrap run over typed arrays.
 */
export async function estimatePolicyValue(db: Knex, input: OffPolicyInput): Promise<OffPolicyDocument> {
  const rewardDefinition: LabelDefinition = {
    ...input.definition,
    task: 'binary',
    positive_outcome_types: input.rewardTypes,
    negative_outcome_types: [],
    outcome_types: [],
  };
  const bindings = {
    ...joinBindingsFor(input.cohort, rewardDefinition, input.asOf),
    reward_value: input.rewardValue,
  };
  return db.transaction(
    async (trx) => {
      await trx.raw("set local work_mem = '256MB'");
      await trx.raw('set local jit = off');
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(CREATE_ROUNDS, bindings);
      const counts = (await trx.raw(ROUND_COUNTS)).rows[0] as Record<'n_cohort' | 'no_action' | 'no_propensity', string | number>;
      const noAction = Number(counts.no_action);
      const noPropensity = Number(counts.no_propensity);
      let usable = Number(counts.n_cohort) - noAction - noPropensity;
      let noTarget = 0;
      let read: { rounds: LoggedRounds; support: RoundSupport };
      const positions = Boolean((await trx.raw(POSITIONS_LOGGED)).rows[0].logged);
      let rewardModel: OffPolicyDocument['reward_model'] = positions ? 'per_action_position_mean' : 'per_action_mean';
      let target: OffPolicyDocument['target_policy'] = input.target;
      let unlogged: ReliabilityFacts['unlogged'] = null;
      if (input.target.kind === 'file') {
        const fileRewards = await loadTargetFile(trx, input.target.file);
        if (fileRewards) rewardModel = 'target_policy_file';
        noTarget = Number((await trx.raw(WITHOUT_TARGET)).rows[0].n);
        usable -= noTarget;
        read = await readRounds(trx, FILE_TARGET_ROUNDS, { file_rewards: fileRewards }, usable);
        const row = (await trx.raw(UNLOGGED_TARGET_ACTIONS)).rows[0] as { rounds: string | number; weight: number; actions: string[] };
        unlogged = { rounds: Number(row.rounds), actions: row.actions, mean_weight: usable > 0 ? Number(row.weight) / usable : 0 };
      } else {
        const rule = await loggedRule(trx);
        target = { ...input.target, actions: rule };
        const epsilon = input.target.kind === 'epsilon-greedy' ? input.target.epsilon : 0;
        read = await readRounds(trx, RULE_TARGET_ROUNDS, { ...rule, epsilon, target_threshold: input.target.threshold }, usable);
      }
      const { rounds, support } = read;
      const random = mulberry32(input.seed);
      const n = rounds.propensity.length;
      const estimates = estimateOffPolicy(rounds, input.clip, {
        resamples: input.resamples,
        alpha: input.alpha,
        nextIndex: () => Math.floor(random() * n),
      });
      const warnings = leftOutWarnings({ noPropensity, noAction, noTarget }, input.target, 'they are left out of every estimate');
      if (n === 0) warnings.push('no prediction of the cohort can be used: every estimate is null');
      const zero = await zeroRewardWarning(trx, input, bindings.as_of, rounds.reward);
      const reliability = [
        ...(zero === null ? [] : [zero]),
        ...reliabilityWarnings(
          { n, effective_sample_size: estimates.effective_sample_size, reward_range: rangeOf(rounds.reward), unlogged },
          estimates.estimators,
        ),
      ];
      const byPosition = input.byPosition
        ? estimateByPosition(rounds, support, unlogged?.actions ?? [], {
            clip: input.clip,
            resamples: input.resamples,
            seed: input.seed,
            alpha: input.alpha,
          })
        : null;
      return {
        cohort: { ...input.cohort, start: bindings.start_ts, end: bindings.end_ts },
        label_definition: { name: input.definition.name, version: input.definition.version, window: input.definition.window },
        as_of: bindings.as_of,
        reward: { outcome_types: input.rewardTypes, kind: input.rewardValue ? 'value' : 'indicator' },
        target_policy: target,
        reward_model: rewardModel,
        ...estimates,
        unlogged_target_share: meanOf(support.unlogged),
        ...(byPosition ? { by_position: byPosition.by_position } : {}),
        clip: input.clip,
        bootstrap: { resamples: input.resamples, seed: input.seed, alpha: input.alpha },
        excluded: { no_action: noAction, no_propensity: noPropensity, no_target_policy: noTarget },
        warnings,
        reliability_warnings: [...reliability, ...(byPosition?.warnings ?? [])],
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}
