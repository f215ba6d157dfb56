/**
 * The recommendations example's homepage ranking (examples/recommendations/README.md,
 * "A homepage ranking"): each session is shown three items at positions 1 to 3, each
 * position chosen by the production ranker with 20% epsilon-greedy exploration of its own
 * (positions explore independently, so per-position propensities are exact and their product
 * is the slate's). A visitor examines position k with a probability that falls with k and
 * clicks an examined item with the item's own probability. A new ranker, written as a target
 * policy file, ranks from a better model; `ope --slate` and `ope --by position` estimate its
 * clicks from the production ranker's logs, and `evaluate` under homepage-label-definition.json
 * gives the production ranking's NDCG, MRR, hit rate, precision and recall.
 *
 *   node dist/examples/recommendations/homepage.js OUT_DIR [--sessions N] [--start ISO] [--seed S]
 *
 * writes predictions.ndjson, outcomes.ndjson, target-policy.ndjson and truth.json (the true
 * expected clicks per session of both rankers, in all and per position).
 */
import { seededRandom } from '../../stats/seeded-random';
import { generatorArgs, integerFlag, seededUuid, startFlag, writeExample } from '../generator-support';

const DAY = 86_400_000;
export const HOMEPAGE_MODEL = { model_name: 'homepage-ranker', model_version: '2.0.0', environment: 'production' };
export const HOMEPAGE_ITEMS = ['item-a', 'item-b', 'item-c', 'item-d', 'item-e', 'item-f'] as const;
export const POSITIONS = 3;
export const HOMEPAGE_EPSILON = 0.2;
/** The probability that a visitor looks at position k (1-based: index k − 1). */
export const EXAMINE = [1, 0.6, 0.35] as const;
const VISITOR_KINDS = 10;

export interface HomepageTruth {
  sessions: number;
  cohort: { start: string; end: string };
  /** Expected clicks per session (the simulation's probabilities, not a draw), in all and per position. */
  logged_policy_clicks: number;
  target_policy_clicks: number;
  target_policy_clicks_by_position: number[];
}

export interface HomepageExample {
  predictions: object[];
  outcomes: object[];
  targetPolicy: object[];
  truth: HomepageTruth;
}

/** The indices of `values` from the largest down (ties to the lower index). */
const ranked = (values: readonly number[]) => values.map((_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);

export function generateHomepageExample({ sessions = 4000, start = '2026-10-05T00:00:00Z', seed = 23 } = {}): HomepageExample {
  const rng = seededRandom(seed);
  const first = Date.parse(start);
  if (!Number.isFinite(first)) throw new Error(`--start must be an ISO timestamp, got ${start}`);
  const n = HOMEPAGE_ITEMS.length;
  const ctr = Array.from({ length: VISITOR_KINDS }, () => HOMEPAGE_ITEMS.map(() => 0.03 + 0.4 * rng.next() ** 2));
  const estimate = (noise: number) => ctr.map((row) => row.map((p) => Math.min(0.99, Math.max(0.001, p + noise * rng.normal()))));
  const production = estimate(0.12);
  const candidate = estimate(0.03);
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const targetPolicy: object[] = [];
  let loggedClicks = 0;
  const targetByPosition = new Array<number>(POSITIONS).fill(0);
  for (let s = 0; s < sessions; s += 1) {
    const kind = Math.floor(rng.next() * VISITOR_KINDS);
    const greedy = ranked(production[kind]!);
    const target = ranked(candidate[kind]!);
    const sessionId = `home-${seed}-${s}`;
    const tsPred = first + Math.floor(rng.next() * 7 * DAY);
    for (let k = 0; k < POSITIONS; k += 1) {
      const explore = rng.next() < HOMEPAGE_EPSILON;
      const shown = explore ? Math.floor(rng.next() * n) : greedy[k]!;
      const propensity = (shown === greedy[k] ? 1 - HOMEPAGE_EPSILON : 0) + HOMEPAGE_EPSILON / n;
      const predictionId = seededUuid(rng.next);
      predictions.push({
        prediction_id: predictionId,
        ...HOMEPAGE_MODEL,
        ts_pred: new Date(tsPred).toISOString(),
        score: Math.round(production[kind]![shown]! * 1e6) / 1e6,
        request_id: sessionId,
        session_id: sessionId,
        item_id: HOMEPAGE_ITEMS[shown],
        action: HOMEPAGE_ITEMS[shown],
        position: k + 1,
        propensity: Math.round(propensity * 1e12) / 1e12,
        policy: `position-epsilon-greedy(${HOMEPAGE_EPSILON})`,
        is_exploration: explore,
        entity_ids: { user_id: `visitor-${seed}-${s}` },
        segment: { visitor_kind: `kind-${kind}` },
      });
      targetPolicy.push({ prediction_id: predictionId, action_probabilities: { [HOMEPAGE_ITEMS[target[k]!]!]: 1 } });
      const mean = ctr[kind]!.reduce((a, b) => a + b, 0) / n;
      loggedClicks += EXAMINE[k]! * ((1 - HOMEPAGE_EPSILON) * ctr[kind]![greedy[k]!]! + HOMEPAGE_EPSILON * mean);
      targetByPosition[k] = targetByPosition[k]! + EXAMINE[k]! * ctr[kind]![target[k]!]!;
      if (rng.next() >= EXAMINE[k]! * ctr[kind]![shown]!) continue;
      const clicked = tsPred + Math.floor(rng.next() * 600_000);
      outcomes.push({
        outcome_id: `home-click-${predictionId}`,
        prediction_id: predictionId,
        outcome_type: 'click',
        source: 'web',
        ts_event: new Date(clicked).toISOString(),
        ts_received: new Date(clicked + 5_000).toISOString(),
      });
    }
  }
  return {
    predictions,
    outcomes,
    targetPolicy,
    truth: {
      sessions,
      cohort: { start: new Date(first).toISOString(), end: new Date(first + 7 * DAY).toISOString() },
      logged_policy_clicks: loggedClicks / sessions,
      target_policy_clicks: targetByPosition.reduce((a, b) => a + b, 0) / sessions,
      target_policy_clicks_by_position: targetByPosition.map((clicks) => clicks / sessions),
    },
  };
}

function main(argv: string[]): void {
  const { out, flags } = generatorArgs(
    argv,
    'node dist/examples/recommendations/homepage.js OUT_DIR [--sessions N] [--start ISO] [--seed S]',
  );
  const example = generateHomepageExample({
    sessions: integerFlag(flags, '--sessions', 4000),
    seed: integerFlag(flags, '--seed', 23),
    ...startFlag(flags),
  });
  writeExample(out, example, { 'target-policy.ndjson': example.targetPolicy });
}

if (require.main === module) main(process.argv.slice(2));
