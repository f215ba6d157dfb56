/**
 * The credit example's data (examples/credit/README.md): loan applications scored with a
 * probability of default, decided by a cut-off with a randomized band (client/exploration's
 * `randomizedBand`), and the defaults and repayments of the approved loans. Denied loans
 * never default, so the approved loans' default rate is biased; the approval propensity
 * logged with each decision is what corrects for it.
 *
 *   node dist/examples/credit/generate.js OUT_DIR [--applicants N] [--start ISO] [--seed S]
 *
 * writes predictions.ndjson, outcomes.ndjson and truth.json (what the simulation knows and
 * the logs do not: the default rate and ROC AUC over every applicant the policy could approve).
 */
import { randomizedBand } from '../../client/exploration';
import { seededRandom } from '../../stats/seeded-random';
import { generatorArgs, integerFlag, seededUuid, startFlag, writeExample } from '../generator-support';

export const BAND = { low: 0.15, high: 0.35 };
export const APPROVE_PROBABILITY = 0.3;
export const COHORT = { start: '2026-03-02T00:00:00Z', end: '2026-03-09T00:00:00Z' };
const DAY = 86_400_000;

export interface CreditTruth {
  applicants: number;
  /** Applicants the policy could approve: a score below the band's top (approval propensity > 0). */
  eligible: number;
  /** Mean true probability of default over the eligible applicants. */
  default_rate: number;
  /** ROC AUC of the score against every eligible applicant's default, approved or not. */
  roc_auc: number;
}

export interface CreditExample {
  predictions: object[];
  outcomes: object[];
  truth: CreditTruth;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** ROC AUC with ties counting ½ (the Mann–Whitney statistic). */
function rocAuc(scores: number[], labels: boolean[]): number {
  const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let negativesBelow = 0;
  let pairs = 0;
  let positives = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    let tiePositives = 0;
    let tieNegatives = 0;
    while (end < order.length && scores[order[end]!] === scores[order[start]!]) {
      if (labels[order[end]!]) tiePositives += 1;
      else tieNegatives += 1;
      end += 1;
    }
    pairs += tiePositives * (negativesBelow + tieNegatives / 2);
    positives += tiePositives;
    negativesBelow += tieNegatives;
    start = end;
  }
  return pairs / (positives * negativesBelow);
}

/** `start` begins the week of applications (default {@link COHORT}'s). */
export function generateCreditExample({ applicants = 20_000, seed = 7, start: from = COHORT.start } = {}): CreditExample {
  const { next: random, normal } = seededRandom(seed);
  const start = Date.parse(from);
  if (!Number.isFinite(start)) throw new Error(`--start must be an ISO timestamp, got ${from}`);
  const predictions: object[] = [];
  const outcomes: object[] = [];
  const eligibleScores: number[] = [];
  const eligibleDefaults: boolean[] = [];
  let eligiblePd = 0;
  for (let i = 0; i < applicants; i += 1) {
    const risk = normal();
    const pd = sigmoid(-1.8 + 1.1 * risk);
    // The model sees the risk through noise, so it ranks well but not perfectly.
    const score = Math.round(sigmoid(-1.8 + 1.1 * (0.8 * risk + 0.6 * normal())) * 1e6) / 1e6;
    const defaults = random() < pd;
    const choice = randomizedBand({ score, band: BAND, approve_probability: APPROVE_PROBABILITY, random });
    const predictionId = seededUuid(random);
    const tsPred = start + Math.floor(random() * 7 * DAY);
    predictions.push({
      prediction_id: predictionId,
      model_name: 'credit-pd',
      model_version: '2.0.0',
      environment: 'production',
      ts_pred: new Date(tsPred).toISOString(),
      score,
      threshold: BAND.high,
      entity_ids: { application_id: `app-${seed}-${i}` },
      decision: choice.action,
      action: choice.action,
      propensity: choice.propensity,
      policy: choice.policy,
      is_exploration: choice.is_exploration,
    });
    if (score < BAND.high) {
      eligiblePd += pd;
      eligibleScores.push(score);
      eligibleDefaults.push(defaults);
    }
    if (choice.action === 'approve') {
      const tsEvent = tsPred + (defaults ? 20 + Math.floor(random() * 60) : 85) * DAY;
      outcomes.push({
        outcome_id: `loan-${seed}-${i}`,
        prediction_id: predictionId,
        outcome_type: defaults ? 'default' : 'repaid',
        ts_event: new Date(tsEvent).toISOString(),
        ts_received: new Date(tsEvent + DAY).toISOString(),
      });
    }
  }
  return {
    predictions,
    outcomes,
    truth: {
      applicants,
      eligible: eligibleScores.length,
      default_rate: eligiblePd / eligibleScores.length,
      roc_auc: rocAuc(eligibleScores, eligibleDefaults),
    },
  };
}

function main(argv: string[]): void {
  const { out, flags } = generatorArgs(argv, 'node dist/examples/credit/generate.js OUT_DIR [--applicants N] [--start ISO] [--seed S]');
  const example = generateCreditExample({
    applicants: integerFlag(flags, '--applicants', 20_000),
    seed: integerFlag(flags, '--seed', 7),
    ...startFlag(flags),
  });
  writeExample(out, example);
}

if (require.main === module) main(process.argv.slice(2));
