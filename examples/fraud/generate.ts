/**
 * The fraud example's data (examples/fraud/README.md): a quarter of weekly card transactions
 * scored by a fraud model, the manual-review feed that labels most of them within days, and
 * the chargebacks that come 60 to 90 days later for the frauds that went through. Two weeks
 * go wrong in different ways:
 * - the **drift week**: a new kind of fraud the model scores as harmless, so recall falls
 *   while every label arrives as usual (a quality problem);
 * - the **outage week**: the US review feed delivers nothing from the week's start until 75
 *   days after its end, then everything at once, so the US keeps only its chargebacks (the
 *   frauds that got through) and its labelled recall falls with the model unchanged (a
 *   labeling problem).
 *
 *   node dist/examples/fraud/generate.js OUT_DIR [--start ISO_MONDAY] [--weeks N]
 *        [--per-week N] [--drift-week I] [--outage-week I] [--seed S]
 *
 * writes predictions.ndjson, outcomes.ndjson and truth.json (per week: its period, what went
 * wrong, the true fraud rate and the true recall over every transaction, labelled or not).
 */
import { seededRandom } from '../../stats/seeded-random';
import { generatorArgs, integerFlag, seededUuid, startFlag, writeExample } from '../generator-support';

const DAY = 86_400_000;
const WEEK = 7 * DAY;
export const MODEL = { model_name: 'fraud-model', model_version: '3.2.0', environment: 'production' };
export const REGIONS = ['eu', 'us'] as const;
export const THRESHOLD = 0.5;
/** Review labels this share of transactions, 1 to 7 days after the transaction. */
const REVIEW_COVERAGE = 0.6;
/** Chargebacks come for this share of the frauds that were not blocked. */
const CHARGEBACK_RATE = 0.9;
/** Frauds the drift week adds that the scores do not see. */
const UNSEEN_FRAUD = 0.08;
/** The US review feed is silent until this long after the outage week's end. */
const OUTAGE_DAYS = 125;

export interface FraudWeekTruth {
  index: number;
  start: string;
  end: string;
  condition: 'normal' | 'drift' | 'outage';
  n: number;
  fraud_rate: number;
  /** Frauds scored at or above the threshold, over all frauds. */
  recall: number;
}

export interface FraudExampleOptions {
  /** Monday 00:00 UTC of the first week. */
  start?: string;
  weeks?: number;
  perWeek?: number;
  /** 0-based week indexes; a value past the last week turns that problem off. */
  driftWeek?: number;
  outageWeek?: number;
  users?: number;
  seed?: number;
}

export interface FraudExample {
  predictions: object[];
  outcomes: object[];
  truth: { model: typeof MODEL; threshold: number; weeks: FraudWeekTruth[] };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function generateFraudExample(options: FraudExampleOptions = {}): FraudExample {
  const { start = '2026-06-01T00:00:00Z', weeks = 13, perWeek = 4000, driftWeek = 6, outageWeek = 10, users = 10_000, seed = 3 } = options;
  const first = Date.parse(start);
  if (!Number.isFinite(first) || new Date(first).getUTCDay() !== 1 || first % DAY !== 0)
    throw new Error(`--start must be a Monday at 00:00Z, got ${start}`);
  const rng = seededRandom(seed);
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const truth: FraudWeekTruth[] = [];
  const within = (from: number, days: [number, number]) => from + Math.floor((days[0] + (days[1] - days[0]) * rng.next()) * DAY);
  for (let w = 0; w < weeks; w += 1) {
    const weekStart = first + w * WEEK;
    const condition = w === driftWeek ? 'drift' : w === outageWeek ? 'outage' : 'normal';
    const outageEnd = weekStart + WEEK + OUTAGE_DAYS * DAY;
    let frauds = 0;
    let caught = 0;
    for (let i = 0; i < perWeek; i += 1) {
      const predictionId = seededUuid(rng.next);
      const region = REGIONS[rng.next() < 0.5 ? 0 : 1]!;
      const tsPred = weekStart + Math.floor(rng.next() * WEEK);
      const amount = Math.round(Math.exp(3.5 + rng.normal()) * 100) / 100;
      // Calibrated scores: a transaction scored p is a fraud with probability p.
      const score = Math.round(sigmoid(-4 + 3 * rng.normal()) * 1e6) / 1e6;
      const fraud = rng.next() < score || (condition === 'drift' && rng.next() < UNSEEN_FRAUD);
      const blocked = score >= THRESHOLD;
      if (fraud) {
        frauds += 1;
        if (blocked) caught += 1;
      }
      predictions.push({
        prediction_id: predictionId,
        ...MODEL,
        region,
        ts_pred: new Date(tsPred).toISOString(),
        score,
        threshold: THRESHOLD,
        decision: blocked ? 'block' : 'allow',
        entity_ids: { transaction_id: `tx-${seed}-${w}-${i}`, user_id: `user-${Math.floor(rng.next() * users)}` },
        segment: { channel: rng.next() < 0.3 ? 'card_present' : 'online' },
        features: { amount },
      });
      if (rng.next() < REVIEW_COVERAGE) {
        const event = within(tsPred, [1, 7]);
        let received = within(event, [0, 2]);
        if (condition === 'outage' && region === 'us' && received < outageEnd) received = within(outageEnd, [0, 1]);
        outcomes.push({
          outcome_id: `review-${predictionId}`,
          prediction_id: predictionId,
          outcome_type: fraud ? 'fraud_confirmed' : 'legit_confirmed',
          source: 'review',
          ts_event: new Date(event).toISOString(),
          ts_received: new Date(received).toISOString(),
        });
      }
      if (fraud && !blocked && rng.next() < CHARGEBACK_RATE) {
        // Within the 90-day window, received up to ten days later: a few land after the final
        // snapshot and revise it during the late-label grace.
        const event = within(tsPred, [60, 89.9]);
        outcomes.push({
          outcome_id: `chargeback-${predictionId}`,
          prediction_id: predictionId,
          outcome_type: 'chargeback',
          source: 'issuer',
          ts_event: new Date(event).toISOString(),
          ts_received: new Date(within(event, [0, 10])).toISOString(),
        });
      }
    }
    truth.push({
      index: w,
      start: new Date(weekStart).toISOString(),
      end: new Date(weekStart + WEEK).toISOString(),
      condition,
      n: perWeek,
      fraud_rate: frauds / perWeek,
      recall: caught / frauds,
    });
  }
  return { predictions, outcomes, truth: { model: MODEL, threshold: THRESHOLD, weeks: truth } };
}

function main(argv: string[]): void {
  const { out, flags } = generatorArgs(
    argv,
    'node dist/examples/fraud/generate.js OUT_DIR [--start ISO_MONDAY] [--weeks N] [--per-week N] ' +
      '[--drift-week I] [--outage-week I] [--seed S]',
  );
  const example = generateFraudExample({
    ...startFlag(flags),
    weeks: integerFlag(flags, '--weeks', 13),
    perWeek: integerFlag(flags, '--per-week', 4000),
    driftWeek: integerFlag(flags, '--drift-week', 6),
    outageWeek: integerFlag(flags, '--outage-week', 10),
    seed: integerFlag(flags, '--seed', 3),
  });
  writeExample(out, example);
}

if (require.main === module) main(process.argv.slice(2));
