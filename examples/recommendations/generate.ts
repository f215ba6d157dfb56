/**
 * The recommendations example's data (examples/recommendations/README.md): a week of
 * sessions from 10,000 users, each shown one of five items by the production ranker with 5%
 * epsilon-greedy exploration (`epsilonGreedy` from client/exploration.ts, propensities
 * logged), the clicks (the session's quick proxy) and the purchases within 7 days. A new
 * ranker, written as a target policy file, chooses from a better model; off-policy estimation
 * should find its click-through rate from the production ranker's logs alone.
 *
 *   node dist/examples/recommendations/generate.js OUT_DIR [--sessions N] [--start ISO] [--seed S]
 *
 * writes predictions.ndjson, outcomes.ndjson, target-policy.ndjson and truth.json (the true
 * click-through and purchase rates of both rankers on these sessions).
 */
import { seededRandom } from '../../stats/seeded-random';
import { epsilonGreedy } from '../../client/exploration';
import { generatorArgs, integerFlag, seededUuid, startFlag, writeExample } from '../generator-support';

const DAY = 86_400_000;
export const MODEL = { model_name: 'recs-ranker', model_version: '4.1.0', environment: 'production' };
export const ITEMS = ['item-a', 'item-b', 'item-c', 'item-d', 'item-e'] as const;
export const VISITOR_KINDS = 20;
export const EPSILON = 0.05;
/** A click turns into a purchase within 7 days with this probability. */
const PURCHASE_AFTER_CLICK = 0.25;

export interface RecommendationsTruth {
  sessions: number;
  cohort: { start: string; end: string };
  /** Each ranker's expected click-through rate on these sessions (the simulation's probabilities, not a draw). */
  logged_policy_ctr: number;
  target_policy_ctr: number;
  target_policy_purchase_rate: number;
  /** Sessions where the new ranker would show another item than the production ranker's greedy choice. */
  target_differs: number;
}

export interface RecommendationsExample {
  predictions: object[];
  outcomes: object[];
  targetPolicy: object[];
  truth: RecommendationsTruth;
}

const argmax = (values: readonly number[]) => values.reduce((best, value, i) => (value > values[best]! ? i : best), 0);

export function generateRecommendationsExample({
  sessions = 10_000,
  start = '2026-10-05T00:00:00Z',
  seed = 11,
} = {}): RecommendationsExample {
  const rng = seededRandom(seed);
  const first = Date.parse(start);
  if (!Number.isFinite(first)) throw new Error(`--start must be an ISO timestamp, got ${start}`);
  // The world: each kind of visitor clicks each item with its own probability. The
  // production ranker estimates those through heavy noise, the new one through less.
  const ctr = Array.from({ length: VISITOR_KINDS }, () => ITEMS.map(() => 0.02 + 0.28 * rng.next() ** 2));
  const estimate = (noise: number) => ctr.map((row) => row.map((p) => Math.min(0.99, Math.max(0.001, p + noise * rng.normal()))));
  const production = estimate(0.08);
  const candidate = estimate(0.02);
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const targetPolicy: object[] = [];
  let loggedCtr = 0;
  let targetCtr = 0;
  let targetDiffers = 0;
  for (let i = 0; i < sessions; i += 1) {
    const kind = Math.floor(rng.next() * VISITOR_KINDS);
    const greedy = ITEMS[argmax(production[kind]!)]!;
    const target = ITEMS[argmax(candidate[kind]!)]!;
    const choice = epsilonGreedy({ actions: ITEMS, greedy, epsilon: EPSILON, random: rng.next });
    const shown = ITEMS.indexOf(choice.action);
    const predictionId = seededUuid(rng.next);
    const sessionId = `session-${seed}-${i}`;
    const tsPred = first + Math.floor(rng.next() * 7 * DAY);
    predictions.push({
      prediction_id: predictionId,
      ...MODEL,
      ts_pred: new Date(tsPred).toISOString(),
      score: Math.round(production[kind]![shown]! * 1e6) / 1e6,
      request_id: sessionId,
      session_id: sessionId,
      item_id: choice.action,
      position: 0,
      entity_ids: { user_id: `user-${seed}-${i}` },
      segment: { visitor_kind: `kind-${kind}` },
      ...choice,
    });
    targetPolicy.push({ prediction_id: predictionId, action_probabilities: { [target]: 1 } });
    // What the sessions would have given: the expected value, not one more draw.
    loggedCtr += (1 - EPSILON) * ctr[kind]![ITEMS.indexOf(greedy)]! + (EPSILON / ITEMS.length) * ctr[kind]!.reduce((a, b) => a + b, 0);
    targetCtr += ctr[kind]![ITEMS.indexOf(target)]!;
    if (target !== greedy) targetDiffers += 1;
    if (rng.next() >= ctr[kind]![shown]!) continue;
    const clicked = tsPred + Math.floor(rng.next() * 600_000);
    outcomes.push({
      outcome_id: `click-${predictionId}`,
      request_id: sessionId,
      item_id: choice.action,
      outcome_type: 'click',
      source: 'web',
      ts_event: new Date(clicked).toISOString(),
      ts_received: new Date(clicked + 5_000).toISOString(),
    });
    if (rng.next() >= PURCHASE_AFTER_CLICK) continue;
    const bought = clicked + Math.floor(rng.next() ** 2 * 6.9 * DAY);
    outcomes.push({
      outcome_id: `purchase-${predictionId}`,
      request_id: sessionId,
      item_id: choice.action,
      outcome_type: 'purchase',
      source: 'orders',
      value: Math.round(Math.exp(3 + 0.5 * rng.normal()) * 100) / 100,
      ts_event: new Date(bought).toISOString(),
      ts_received: new Date(bought + 60_000).toISOString(),
    });
  }
  return {
    predictions,
    outcomes,
    targetPolicy,
    truth: {
      sessions,
      cohort: { start: new Date(first).toISOString(), end: new Date(first + 7 * DAY).toISOString() },
      logged_policy_ctr: loggedCtr / sessions,
      target_policy_ctr: targetCtr / sessions,
      target_policy_purchase_rate: (targetCtr / sessions) * PURCHASE_AFTER_CLICK,
      target_differs: targetDiffers,
    },
  };
}

function main(argv: string[]): void {
  const { out, flags } = generatorArgs(
    argv,
    'node dist/examples/recommendations/generate.js OUT_DIR [--sessions N] [--start ISO] [--seed S]',
  );
  const example = generateRecommendationsExample({
    sessions: integerFlag(flags, '--sessions', 10_000),
    seed: integerFlag(flags, '--seed', 11),
    ...startFlag(flags),
  });
  writeExample(out, example, { 'target-policy.ndjson': example.targetPolicy });
}

if (require.main === module) main(process.argv.slice(2));
