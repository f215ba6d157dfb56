/**
 * The returns example's data (examples/returns/README.md): a week of orders from 10,000
 * customers, each scored at checkout with the probability that it comes back, and the
 * returns the warehouse system reports, keyed by order id (it has never heard of prediction
 * ids). A return counts when it is initiated within 45 days of the order; some customers
 * return later than that, and those are not labels.
 *
 *   node dist/examples/returns/generate.js OUT_DIR [--orders N] [--start ISO] [--seed S]
 *
 * writes predictions.ndjson, outcomes.ndjson and truth.json (the return rate within the
 * window, overall and per category, and how many returns came after it).
 */
import { seededRandom } from '../../stats/seeded-random';
import { generatorArgs, integerFlag, seededUuid, startFlag, writeExample } from '../generator-support';

const DAY = 86_400_000;
export const MODEL = { model_name: 'returns-model', model_version: '1.2.0', environment: 'production' };
export const WINDOW_DAYS = 45;
/** From this score on the checkout shows a size or compatibility check. */
export const THRESHOLD = 0.4;
/** Category: share of orders and the logit offset of its return probability. */
export const CATEGORIES = {
  apparel: { share: 0.5, offset: 0.9 },
  electronics: { share: 0.2, offset: -0.6 },
  home: { share: 0.3, offset: -1.2 },
} as const;
export type Category = keyof typeof CATEGORIES;

export interface ReturnsTruth {
  orders: number;
  cohort: { start: string; end: string };
  /** Orders returned within 45 days of the order, over all orders. */
  return_rate: number;
  by_category: Record<Category, { orders: number; return_rate: number }>;
  /** Returns initiated after the window: reported, but not labels. */
  returns_after_window: number;
}

export interface ReturnsExample {
  predictions: object[];
  outcomes: object[];
  truth: ReturnsTruth;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function generateReturnsExample({ orders = 10_000, start = '2026-09-07T00:00:00Z', seed = 5 } = {}): ReturnsExample {
  const rng = seededRandom(seed);
  const first = Date.parse(start);
  if (!Number.isFinite(first)) throw new Error(`--start must be an ISO timestamp, got ${start}`);
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const counts = Object.fromEntries(Object.keys(CATEGORIES).map((c) => [c, { orders: 0, returned: 0 }])) as Record<
    Category,
    { orders: number; returned: number }
  >;
  let returnsAfterWindow = 0;
  for (let i = 0; i < orders; i += 1) {
    const draw = rng.next();
    const category: Category =
      draw < CATEGORIES.apparel.share ? 'apparel' : draw < CATEGORIES.apparel.share + CATEGORIES.electronics.share ? 'electronics' : 'home';
    const price = Math.round(Math.exp(3.6 + 0.8 * rng.normal()) * 100) / 100;
    const risk = rng.normal();
    const probability = sigmoid(-1.6 + CATEGORIES[category].offset + 0.9 * risk + 0.2 * Math.log(price / 40));
    // The model sees the risk through noise: it ranks well, not perfectly.
    const score =
      Math.round(
        sigmoid(-1.6 + CATEGORIES[category].offset + 0.9 * (0.85 * risk + 0.5 * rng.normal()) + 0.2 * Math.log(price / 40)) * 1e6,
      ) / 1e6;
    const orderId = `order-${seed}-${i}`;
    const tsPred = first + Math.floor(rng.next() * 7 * DAY);
    predictions.push({
      prediction_id: seededUuid(rng.next),
      ...MODEL,
      region: rng.next() < 0.6 ? 'eu' : 'us',
      ts_pred: new Date(tsPred).toISOString(),
      score,
      threshold: THRESHOLD,
      decision: score >= THRESHOLD ? 'size_check' : 'none',
      entity_ids: { order_id: orderId, customer_id: `customer-${Math.floor(rng.next() * 10_000)}` },
      segment: { category },
      features: { price },
    });
    counts[category].orders += 1;
    if (rng.next() >= probability) continue;
    // Delivery 2 to 6 days after the order, the return within 40 days of delivery; a tenth of
    // the returners take longer, some of them past the 45 days.
    const delivered = 2 + 4 * rng.next();
    const daysToReturn = delivered + (rng.next() < 0.9 ? 40 * rng.next() : 30 + 30 * rng.next());
    const tsEvent = tsPred + Math.floor(daysToReturn * DAY);
    if (daysToReturn < WINDOW_DAYS) counts[category].returned += 1;
    else returnsAfterWindow += 1;
    outcomes.push({
      outcome_id: `return-${orderId}`,
      entity_ids: { order_id: orderId },
      outcome_type: 'return_initiated',
      source: 'warehouse',
      ts_event: new Date(tsEvent).toISOString(),
      ts_received: new Date(tsEvent + Math.floor((0.1 + 2 * rng.next()) * DAY)).toISOString(),
    });
  }
  const returned = Object.values(counts).reduce((sum, c) => sum + c.returned, 0);
  return {
    predictions,
    outcomes,
    truth: {
      orders,
      cohort: { start: new Date(first).toISOString(), end: new Date(first + 7 * DAY).toISOString() },
      return_rate: returned / orders,
      by_category: Object.fromEntries(
        Object.entries(counts).map(([c, v]) => [c, { orders: v.orders, return_rate: v.returned / v.orders }]),
      ) as ReturnsTruth['by_category'],
      returns_after_window: returnsAfterWindow,
    },
  };
}

function main(argv: string[]): void {
  const { out, flags } = generatorArgs(argv, 'node dist/examples/returns/generate.js OUT_DIR [--orders N] [--start ISO] [--seed S]');
  const example = generateReturnsExample({
    orders: integerFlag(flags, '--orders', 10_000),
    seed: integerFlag(flags, '--seed', 5),
    ...startFlag(flags),
  });
  writeExample(out, example);
}

if (require.main === module) main(process.argv.slice(2));
