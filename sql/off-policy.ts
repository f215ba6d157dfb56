/**
 * The logged rounds of an off-policy estimate (docs/off-policy.md), one per cohort
 * prediction: its logged action (`action`, else `decision`), the logged propensity, and the
 * reward as of `:as_of` from `hs_matches` (./join-outcomes, run with the reward's outcome
 * types). Then, per round, the numbers the estimators need (stats/off-policy):
 * π_e of the logged action, Σ_a π_e(a|x) q̂(x, a) and q̂ of the logged action, so only five
 * floats per round reach Node (and the request_id and position that `ope --slate` groups by).
 *
 * Values are always bound; the only text spliced in is built from constants in this file.
 */
import { IN_COHORT } from './join-outcomes';

/**
 * `hs_rounds`: the cohort's predictions with their action, propensity and reward. The reward
 * is 1 when an outcome of a reward type joined within the window (else 0), or, with
 * `:reward_value`, the value of the latest such outcome that has one (else 0).
 */
export const CREATE_ROUNDS = `
create temp table hs_rounds on commit drop as
with rewarded as (
  select m.prediction_id,
         (array_agg(m.value order by m.ts_event desc, m.outcome_id desc) filter (where m.value is not null))[1] as value
  from hs_matches m
  where m.status = 'joined'
  group by m.prediction_id
)
select p.prediction_id, coalesce(p.action, p.decision) as action, p.propensity, p.score, p.request_id, p.position, p.segment,
       coalesce(p.threshold, :default_threshold::float8) as threshold, p.is_exploration,
       case when :reward_value::boolean then coalesce(r.value, 0)
            when r.prediction_id is not null then 1
            else 0 end::float8 as reward
from predictions p left join rewarded r on r.prediction_id = p.prediction_id
where ${IN_COHORT}`;

/** The rounds an estimate can use: a logged action with a logged propensity. */
const USABLE = 'r.action is not null and r.propensity is not null';

/** Why cohort predictions are left out, and the logged actions (with their counts) of the usable rounds. */
export const ROUND_COUNTS = `
select count(*) as n_cohort,
       count(*) filter (where r.action is null) as no_action,
       count(*) filter (where r.action is not null and r.propensity is null) as no_propensity
from hs_rounds r`;

/**
 * The logged decision rule, for the built-in greedy targets: per side of each prediction's
 * own threshold, how often each action was taken on policy (non-exploration) traffic.
 */
export const DECISION_RULE = `
select r.action, r.score >= r.threshold as above, count(*) as n
from hs_rounds r
where ${USABLE} and r.is_exploration is not true
group by r.action, r.score >= r.threshold`;

export const LOGGED_ACTIONS = `select distinct r.action from hs_rounds r where ${USABLE} order by 1`;

/** Usable rounds without a score: the built-in greedy targets cannot place them against a threshold. */
export const UNSCORED_ROUNDS = `select count(*) as n from hs_rounds r where ${USABLE} and r.score is null`;

/** The target policy file, one row per line (activities/off-policy/off-policy). */
export const CREATE_TARGET = `
create temp table hs_target (
  prediction_id uuid primary key,
  probabilities jsonb not null,
  expected_rewards jsonb
) on commit drop`;

/** A target policy file keyed by position and context (activities/off-policy/target-file), one row per line. */
export const CREATE_TARGET_KEYED = `
create temp table hs_target_keyed (
  position integer not null,
  context jsonb not null,
  probabilities jsonb not null,
  expected_rewards jsonb
) on commit drop`;

export const INSERT_TARGET_KEYED = `
insert into hs_target_keyed (position, context, probabilities, expected_rewards)
select * from unnest(:positions::integer[], :contexts::jsonb[], :probabilities::jsonb[], :rewards::jsonb[])`;

/**
 * Each cohort prediction gets the keyed line of its position whose context its segment holds
 * (every line names the same context keys and none repeats, so at most one matches).
 */
export const EXPAND_TARGET_KEYED = `
insert into hs_target (prediction_id, probabilities, expected_rewards)
select r.prediction_id, k.probabilities, k.expected_rewards
from hs_rounds r join hs_target_keyed k on k.position = r.position and r.segment @> k.context`;

export const INSERT_TARGET = `
insert into hs_target (prediction_id, probabilities, expected_rewards)
select * from unnest(:ids::uuid[], :probabilities::jsonb[], :rewards::jsonb[])`;

/**
 * The built-in reward model: the mean logged reward of each action at each position over the
 * usable rounds; of each action over all positions where the round has no position or the
 * action was never logged at it; the overall mean for an action never logged. Otherwise
 * context-free on purpose (a prediction logs the score of its own action only); DR corrects
 * what it misses where the weights allow. `logged` is the set of logged actions.
 */
const REWARD_MODEL = `
  model as (select r.action, avg(r.reward) as q from hs_rounds r where ${USABLE} group by r.action),
  model_position as (
    select r.action, r.position, avg(r.reward) as q from hs_rounds r
    where ${USABLE} and r.position is not null group by r.action, r.position
  ),
  overall as (select avg(r.reward) as q from hs_rounds r where ${USABLE}),
  logged as (select distinct r.action from hs_rounds r where ${USABLE})`;

/** q̂ of `action` in round `r`: at its position, else over all positions, else the overall mean. */
const modelOf = (action: string) =>
  `coalesce((select mp.q from model_position mp where mp.action = ${action} and mp.position = r.position),
            (select m.q from model m where m.action = ${action}), (select q from overall))`;

/** Whether any usable round logs a position, so the built-in reward model is per action and position. */
export const POSITIONS_LOGGED = `select exists (select 1 from hs_rounds r where ${USABLE} and r.position is not null) as logged`;

/**
 * Usable rounds whose target policy line puts weight on actions no usable round logged:
 * how many, which actions, and the total weight on them.
 */
export const UNLOGGED_TARGET_ACTIONS = `
with logged as (select distinct r.action from hs_rounds r where ${USABLE}),
unlogged as (
  select t.prediction_id, e.key as action, e.value::float8 as weight
  from hs_rounds r
  join hs_target t on t.prediction_id = r.prediction_id
  cross join lateral jsonb_each_text(t.probabilities) e
  where ${USABLE} and e.value::float8 > 0 and e.key not in (select l.action from logged l)
)
select count(distinct u.prediction_id) as rounds,
       coalesce(sum(u.weight), 0) as weight,
       coalesce(array_agg(distinct u.action order by u.action) filter (where u.action is not null), '{}') as actions
from unlogged u`;

/** Usable rounds without a line in the target policy file. */
export const WITHOUT_TARGET = `
select count(*) as n from hs_rounds r
where ${USABLE} and not exists (select 1 from hs_target t where t.prediction_id = r.prediction_id)`;

/**
 * Rounds under a target policy file. q̂ is the file's `expected_rewards` when
 * `:file_rewards`, else the built-in model; an action the file gives no probability has
 * π_e = 0.
 */
export const FILE_TARGET_ROUNDS = `
with ${REWARD_MODEL}
select r.propensity,
       coalesce((t.probabilities ->> r.action)::float8, 0) as target,
       r.reward,
       (select coalesce(sum(e.value::float8 * case when :file_rewards::boolean then (t.expected_rewards ->> e.key)::float8
                                                  else ${modelOf('e.key')} end), 0)
        from jsonb_each_text(t.probabilities) e) as direct,
       case when :file_rewards::boolean then coalesce((t.expected_rewards ->> r.action)::float8, 0)
            else ${modelOf('r.action')} end as modeled,
       (select coalesce(sum(e.value::float8), 0) from jsonb_each_text(t.probabilities) e
        where e.key not in (select l.action from logged l)) as unlogged,
       r.request_id, r.position
from hs_rounds r join hs_target t on t.prediction_id = r.prediction_id
where ${USABLE}
order by r.prediction_id`;

/**
 * Rounds under the built-in targets: the logged rule's action for each side of the threshold
 * (`:above`, `:below`), greedy at `:target_threshold` (each prediction's own when null), with
 * an `:epsilon` share spread uniformly over the two actions (0 for plain greedy).
 */
export const RULE_TARGET_ROUNDS = `
with ${REWARD_MODEL},
ruled as (
  select r.*, case when r.score >= coalesce(:target_threshold::float8, r.threshold) then :above::text else :below::text end as greedy,
         case when r.score >= coalesce(:target_threshold::float8, r.threshold) then :below::text else :above::text end as other
  from hs_rounds r
  where ${USABLE}
)
select r.propensity,
       (1 - :epsilon::float8) * (r.action = r.greedy)::int + :epsilon::float8 / 2 as target,
       r.reward,
       (1 - :epsilon::float8 / 2) * ${modelOf('r.greedy')}
         + :epsilon::float8 / 2 * ${modelOf('r.other')} as direct,
       ${modelOf('r.action')} as modeled,
       0::float8 as unlogged,
       r.request_id, r.position
from ruled r
order by r.prediction_id`;
