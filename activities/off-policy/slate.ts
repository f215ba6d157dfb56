/**
 * `hindsight ope --slate` (docs/off-policy.md, "Slates"): the rows of one request form a
 * slate ordered by position, and SIPS, IIPS and RIPS (stats/off-policy-slate) estimate the
 * target policy's value per slate. The rounds come from the same SQL as the per-row estimate
 * (../../sql/off-policy), with each row's request_id and position, grouped here.
 */
import type { Knex } from 'knex';
import { CREATE_MATCHES, joinBindingsFor } from '../../sql/join-outcomes';
import {
  CREATE_ROUNDS,
  FILE_TARGET_ROUNDS,
  ROUND_COUNTS,
  RULE_TARGET_ROUNDS,
  UNLOGGED_TARGET_ACTIONS,
  WITHOUT_TARGET,
} from '../../sql/off-policy';
import type { CohortSelector } from '../../contracts/cohort';
import type { LabelDefinition } from '../../contracts/label-definition';
import { reliabilityWarnings, type Estimate, type ReliabilityFacts } from '../../stats/off-policy';
import {
  estimateSlates,
  type LoggedSlates,
  type SlateEstimatorName,
  type SlatePropensity,
  type SlateReward,
} from '../../stats/off-policy-slate';
import { mulberry32 } from '../../stats/seeded-random';
import {
  leftOutWarnings,
  loadTargetFile,
  loggedRule,
  OffPolicyInputError,
  zeroRewardWarning,
  type OffPolicyInput,
  type TargetPolicy,
} from './off-policy';

export interface SlateOffPolicyInput extends Omit<OffPolicyInput, 'clip'> {
  slate: { propensity: SlatePropensity; reward: SlateReward };
}

/** What `hindsight ope --slate --json` prints. */
export interface SlateOffPolicyDocument {
  cohort: CohortSelector;
  label_definition: { name: string; version: number; window: string };
  as_of: string;
  reward: { outcome_types: string[]; kind: 'indicator' | 'value'; slate: SlateReward };
  target_policy: TargetPolicy & { actions?: { above: string; below: string } };
  /** How the logged propensities are read: per position (independence assumed) or one joint propensity per slate. */
  propensity: SlatePropensity;
  estimators: Record<SlateEstimatorName, Estimate>;
  n_slates: number;
  n_rows: number;
  effective_sample_size: number | null;
  max_weight: number | null;
  logged_policy_value: number | null;
  bootstrap: { resamples: number; seed: number; alpha: number };
  excluded: { no_action: number; no_propensity: number; no_target_policy: number };
  warnings: string[];
  reliability_warnings: string[];
}

interface SlateRow {
  propensity: number;
  target: number;
  reward: number;
  request_id: string | null;
  position: number | null;
}

/** Groups the rows by request_id, each slate in position order; a row without either, or a repeated position, is refused. */
export function groupSlates(rows: SlateRow[], propensity: SlatePropensity): LoggedSlates {
  const missing = rows.filter((row) => row.request_id === null || row.position === null).length;
  if (missing > 0)
    throw new OffPolicyInputError(
      `--slate groups a request's predictions by request_id and orders them by position; ` +
        `${missing} usable prediction(s) of the cohort log no request_id or no position`,
    );
  const order = rows
    .map((_, i) => i)
    .sort((a, b) => {
      const [x, y] = [rows[a]!, rows[b]!];
      return x.request_id! < y.request_id! ? -1 : x.request_id! > y.request_id! ? 1 : x.position! - y.position!;
    });
  const start: number[] = [];
  order.forEach((index, k) => {
    const row = rows[index]!;
    const previous = k > 0 ? rows[order[k - 1]!]! : null;
    if (previous === null || previous.request_id !== row.request_id) {
      start.push(k);
      return;
    }
    if (previous.position === row.position)
      throw new OffPolicyInputError(
        `request_id ${row.request_id}: two predictions at position ${row.position}; a slate has one per position`,
      );
    if (propensity === 'joint' && Math.abs(previous.propensity - row.propensity) > 1e-12 * Math.max(1, row.propensity))
      throw new OffPolicyInputError(
        `request_id ${row.request_id}: --slate-propensity joint needs the same propensity (the whole slate's) on every row; ` +
          `position ${previous.position} has ${previous.propensity}, position ${row.position} has ${row.propensity}`,
      );
  });
  start.push(order.length);
  const pick = (key: 'propensity' | 'target' | 'reward') => Float64Array.from(order, (i) => rows[i]![key]);
  return { start: Int32Array.from(start), propensity: pick('propensity'), target: pick('target'), reward: pick('reward') };
}

/** Estimates a target ranking policy's value per slate, as of a moment, in one REPEATABLE READ snapshot. */
export async function estimateSlateValue(db: Knex, input: SlateOffPolicyInput): Promise<SlateOffPolicyDocument> {
  const rewardDefinition: LabelDefinition = {
    ...input.definition,
    task: 'binary',
    positive_outcome_types: input.rewardTypes,
    negative_outcome_types: [],
    outcome_types: [],
  };
  const bindings = { ...joinBindingsFor(input.cohort, rewardDefinition, input.asOf), reward_value: input.rewardValue };
  return db.transaction(
    async (trx) => {
      await trx.raw('set local jit = off');
      await trx.raw(CREATE_MATCHES, bindings);
      await trx.raw(CREATE_ROUNDS, bindings);
      const counts = (await trx.raw(ROUND_COUNTS)).rows[0] as Record<'n_cohort' | 'no_action' | 'no_propensity', string | number>;
      const noAction = Number(counts.no_action);
      const noPropensity = Number(counts.no_propensity);
      let noTarget = 0;
      let target: SlateOffPolicyDocument['target_policy'] = input.target;
      let unlogged: ReliabilityFacts['unlogged'] = null;
      let rows: SlateRow[];
      if (input.target.kind === 'file') {
        const fileRewards = await loadTargetFile(trx, input.target.file);
        noTarget = Number((await trx.raw(WITHOUT_TARGET)).rows[0].n);
        rows = (await trx.raw(FILE_TARGET_ROUNDS, { file_rewards: fileRewards })).rows as SlateRow[];
        const row = (await trx.raw(UNLOGGED_TARGET_ACTIONS)).rows[0] as { rounds: string | number; weight: number; actions: string[] };
        unlogged = {
          rounds: Number(row.rounds),
          actions: row.actions,
          mean_weight: rows.length > 0 ? Number(row.weight) / rows.length : 0,
        };
      } else {
        const rule = await loggedRule(trx);
        target = { ...input.target, actions: rule };
        const epsilon = input.target.kind === 'epsilon-greedy' ? input.target.epsilon : 0;
        rows = (await trx.raw(RULE_TARGET_ROUNDS, { ...rule, epsilon, target_threshold: input.target.threshold })).rows as SlateRow[];
      }
      if (rows.some((row) => row.request_id === null || row.position === null)) {
        // Name one such prediction so that the log can be checked (`hindsight trace`).
        const example = (
          await trx.raw(
            `select r.prediction_id, r.request_id is null as no_request from hs_rounds r
             ${input.target.kind === 'file' ? 'join hs_target t on t.prediction_id = r.prediction_id' : ''}
             where r.action is not null and r.propensity is not null and (r.request_id is null or r.position is null)
             order by r.prediction_id limit 1`,
          )
        ).rows[0] as { prediction_id: string; no_request: boolean } | undefined;
        if (example) {
          const missingCount = rows.filter((row) => row.request_id === null || row.position === null).length;
          throw new OffPolicyInputError(
            `--slate groups a request's predictions by request_id and orders them by position; ` +
              `${missingCount} usable prediction(s) of the cohort log no request_id or no position ` +
              `(prediction ${example.prediction_id} has no ${example.no_request ? 'request_id' : 'position'})`,
          );
        }
      }
      const slates = groupSlates(rows, input.slate.propensity);
      const random = mulberry32(input.seed);
      const n = slates.start.length - 1;
      const estimates = estimateSlates(slates, input.slate, {
        resamples: input.resamples,
        alpha: input.alpha,
        nextIndex: () => Math.floor(random() * n),
      });
      const warnings = leftOutWarnings({ noPropensity, noAction, noTarget }, input.target, 'their slates are estimated without them');
      if (n === 0) warnings.push('no slate of the cohort can be used: every estimate is null');
      // The effective sample size is that of the slate weights: SIPS's, and RIPS's at a slate's last
      // position (RIPS is null with joint propensities); IIPS's per-position weights are far smaller.
      const wording = {
        weighted: input.slate.propensity === 'joint' ? 'SIPS' : 'SIPS and RIPS',
        rounds: 'slates',
        unlogged: 'no logged slate holds them, so SIPS, IIPS and RIPS count them as earning nothing',
      };
      const zero = await zeroRewardWarning(trx, input, bindings.as_of, slates.reward);
      const reliability = [
        ...(zero === null ? [] : [zero.replace("every round's reward", "every row's reward")]),
        ...reliabilityWarnings(
          { n, effective_sample_size: estimates.effective_sample_size, reward_range: estimates.reward_range, unlogged: null },
          estimates.estimators,
          wording,
        ),
        ...reliabilityWarnings(
          { n: rows.length, effective_sample_size: null, reward_range: null, unlogged },
          {},
          { ...wording, rounds: 'rows' },
        ),
      ];
      const { reward_range: _range, ...reported } = estimates;
      return {
        cohort: { ...input.cohort, start: bindings.start_ts, end: bindings.end_ts },
        label_definition: { name: input.definition.name, version: input.definition.version, window: input.definition.window },
        as_of: bindings.as_of,
        reward: { outcome_types: input.rewardTypes, kind: input.rewardValue ? 'value' : 'indicator', slate: input.slate.reward },
        target_policy: target,
        propensity: input.slate.propensity,
        ...reported,
        bootstrap: { resamples: input.resamples, seed: input.seed, alpha: input.alpha },
        excluded: { no_action: noAction, no_propensity: noPropensity, no_target_policy: noTarget },
        warnings,
        reliability_warnings: reliability,
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}
