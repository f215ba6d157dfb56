import type { Knex } from 'knex';
import { registerCohort } from '../../activities/evaluate/cohorts';
import { seededRandom, type SeededRandom } from '../../stats/seeded-random';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { cohortIdFor } from '../../contracts/cohort';
import { storeRows } from './store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

/**
 * The mini challenge: a fraud model over two regions whose labels come from two feeds.
 * - Scores are calibrated: each transaction's fraud is drawn with its score's probability
 *   (`sharp` scores: logit −4 + 3z, z standard normal; `blunt` ones, a model that lost a
 *   feature: logit −3.6 + 2.2z). `unseen_fraud` adds frauds the scores do not see.
 * - The review feed labels `coverage` of all transactions, explicit positives
 *   (`fraud_confirmed`) and negatives (`legit_confirmed`); a region's review feed can stall,
 *   holding back what it would have delivered until the stall ends.
 * - Chargebacks (`chargeback`) come for `rate` of the frauds that went through, i.e. were
 *   not flagged (a flagged transaction is blocked).
 * Deterministic: the same world, weeks and seed give the same rows; two worlds that differ
 * only in model name get the same rows under different ids.
 */

const DAY = 86_400_000;
export const WEEK = 7 * DAY;

export interface FeedTiming {
  /** Event this many days after the prediction, uniform in [low, high]. */
  eventDays: [number, number];
  /** Received this many days after the event, uniform in [low, high]. */
  receiptDays: [number, number];
}

export interface World {
  model_name: string;
  model_version: string;
  review: FeedTiming & { coverage: number };
  chargeback: FeedTiming & { rate: number };
}

export interface WeekPlan {
  start: string;
  n: number;
  scores?: 'sharp' | 'blunt';
  unseen_fraud?: number;
  stall?: { region: string; from: string; until: string };
}

export const REGIONS = ['eu', 'us'] as const;

/** The review and chargeback timing of the challenge: every label inside a 30-day window, received within 25 days. */
export const FAST_FEEDS: Pick<World, 'review' | 'chargeback'> = {
  review: { coverage: 0.92, eventDays: [0.05, 2], receiptDays: [0, 5] },
  chargeback: { rate: 0.95, eventDays: [2, 20], receiptDays: [0, 3] },
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const uniform = (rng: SeededRandom, [low, high]: [number, number]) => low + (high - low) * rng.next();

function uuid(rng: SeededRandom): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng.next() * 16).toString(16));
  hex[12] = '4';
  hex[16] = '89ab'[Math.floor(rng.next() * 4)]!;
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export interface GeneratedWeek {
  predictions: Array<Record<string, unknown> & { prediction_id: string; region: string; score: number; ts_pred: string }>;
  outcomes: Array<Record<string, unknown> & { prediction_id: string; outcome_type: string; ts_event: string; ts_received: string }>;
  /** Each prediction's eventual label (whether any feed ever reports it or not). */
  fraud: Map<string, boolean>;
}

export function generateWeek(world: World, plan: WeekPlan, seed: number): GeneratedWeek {
  const rng = seededRandom(seed);
  // ids from their own stream, per model: two worlds of one seed differ in ids only
  const ids = seededRandom([...world.model_name].reduce((hash, c) => Math.imul(hash ^ c.charCodeAt(0), 0x01000193), seed));
  const start = Date.parse(plan.start);
  const logit = plan.scores === 'blunt' ? (z: number) => -3.6 + 2.2 * z : (z: number) => -4 + 3 * z;
  const week: GeneratedWeek = { predictions: [], outcomes: [], fraud: new Map() };
  for (let i = 0; i < plan.n; i++) {
    const prediction_id = uuid(ids);
    const region = REGIONS[rng.next() < 0.5 ? 0 : 1]!;
    const tsPred = start + Math.floor(rng.next() * WEEK);
    const score = sigmoid(logit(rng.normal()));
    const fraud = rng.next() < score || rng.next() < (plan.unseen_fraud ?? 0);
    const flagged = score >= 0.5;
    week.fraud.set(prediction_id, fraud);
    week.predictions.push({
      prediction_id,
      model_name: world.model_name,
      model_version: world.model_version,
      environment: 'production',
      region,
      ts_pred: new Date(tsPred).toISOString(),
      score,
      entity_ids: {},
      segment: {},
    });
    const outcome = (kind: string, type: string, timing: FeedTiming, stall?: WeekPlan['stall']) => {
      const event = tsPred + Math.floor(uniform(rng, timing.eventDays) * DAY);
      let received = event + Math.floor(uniform(rng, timing.receiptDays) * DAY);
      if (stall && stall.region === region && received >= Date.parse(stall.from) && received < Date.parse(stall.until)) {
        received = Date.parse(stall.until) + Math.floor(rng.next() * DAY);
      }
      week.outcomes.push({
        outcome_id: `${kind}-${prediction_id}`,
        prediction_id,
        entity_ids: {},
        outcome_type: type,
        source: kind,
        ts_event: new Date(event).toISOString(),
        ts_received: new Date(received).toISOString(),
      });
    };
    if (rng.next() < world.review.coverage) outcome('review', fraud ? 'fraud_confirmed' : 'legit_confirmed', world.review, plan.stall);
    if (fraud && !flagged && rng.next() < world.chargeback.rate) outcome('chargeback', 'chargeback', world.chargeback);
  }
  return week;
}

/** The challenge's label definition: positives from either feed, explicit negatives from review, per region. */
export function challengeDefinition(world: World, overrides: Partial<LabelDefinition> = {}): Record<string, unknown> {
  return {
    name: `${world.model_name}-fraud`,
    version: 1,
    model_name: world.model_name,
    task: 'binary',
    window: 'P30D',
    checkpoints: ['P7D', 'P14D'],
    positive_outcome_types: ['fraud_confirmed', 'chargeback'],
    negative_outcome_types: ['legit_confirmed'],
    absent_means: 'unknown',
    slices: ['region'],
    decision_threshold: 0.5,
    ...overrides,
  };
}

export interface StoredChallenge {
  definition: LabelDefinition;
  weeks: Array<{
    plan: WeekPlan;
    cohort: { model_name: string; model_version: string; environment: null; start: string; end: string };
    cohort_id: string;
    generated: GeneratedWeek;
  }>;
}

/**
 * Stores the definition, every week's predictions and outcomes, and registers each week as
 * a cohort (so finalized ones serve as the completeness history).
 */
export async function storeChallenge(
  db: Knex,
  world: World,
  plans: WeekPlan[],
  seed: number,
  overrides: Partial<LabelDefinition> = {},
): Promise<StoredChallenge> {
  const { definition } = await putLabelDefinition(db, challengeDefinition(world, overrides));
  const weeks: StoredChallenge['weeks'] = [];
  for (const [index, plan] of plans.entries()) {
    const generated = generateWeek(world, plan, seed * 1000 + index);
    await storeRows(db, 'predictions', generated.predictions);
    await storeRows(db, 'outcomes', generated.outcomes);
    const cohort = {
      model_name: world.model_name,
      model_version: world.model_version,
      environment: null,
      start: new Date(Date.parse(plan.start)).toISOString(),
      end: new Date(Date.parse(plan.start) + WEEK).toISOString(),
    };
    const cohort_id = cohortIdFor(cohort, definition);
    await registerCohort(db, {
      ...cohort,
      cohort_id,
      label_definition_name: definition.name,
      label_definition_version: definition.version,
    });
    weeks.push({ plan, cohort, cohort_id, generated });
  }
  // Fresh tables have no statistics until autovacuum gets to them, and the join's plans
  // without them are ten times slower; a database in use has them.
  await db.raw('analyze predictions, outcomes, outcome_keys, prediction_keys');
  return { definition, weeks };
}
