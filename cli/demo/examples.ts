import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { ingestNdjsonFile, type IngestResult } from '../../activities/ingest/ingest-records';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { putPolicy } from '../../activities/monitoring/policy';
import { generateCreditExample } from '../../examples/credit/generate';
import { generateFraudExample, MODEL as FRAUD_MODEL } from '../../examples/fraud/generate';
import { toNdjson } from '../../examples/generator-support';
import { generateRecommendationsExample, MODEL as RECS_MODEL } from '../../examples/recommendations/generate';
import { generateHomepageExample, HOMEPAGE_MODEL } from '../../examples/recommendations/homepage';
import { generateReturnsExample, MODEL as RETURNS_MODEL } from '../../examples/returns/generate';
import { findProjectRoot } from '../../workers/project-root';
import type { CohortSelector } from '../../contracts/cohort';
import { type LabelDefinition } from '../../contracts/label-definition';

const DAY = 86_400_000;
const WEEK = 7 * DAY;

/** Where the demo's examples sit in time, fixed by its first run so a rerun finds the same cohorts. */
export interface DemoTimeline {
  /** Monday 00:00Z on or before the first run: the end of the fraud history's last week. */
  anchor: number;
}

/** The fraud history: 20 weekly cohorts ending at the anchor, the drift and the outage in two of them. */
export const FRAUD_WEEKS = 20;
/**
 * Week 6 of 20 ends 13 weeks before the anchor, so its final snapshot (90 days) has been taken
 * and four finalized weeks stand before it; week 14 ends 5 weeks before, so its 30-day
 * checkpoint has passed while the US review feed is still silent.
 */
export const FRAUD_DRIFT_WEEK = 6;
export const FRAUD_OUTAGE_WEEK = 14;
/** Weeks whose whole life (window and late-label grace, 120 days) lies before the anchor: opened first, as history. */
export const FRAUD_HISTORY_WEEKS = 6;
/** The demo's population: every example draws from 10,000 users, orders, sessions or applicants. */
export const DEMO_USERS = 10_000;
const FRAUD_PER_WEEK = 2_500;
/** The homepage ranking's sessions (three predictions each): enough for its numbers, small enough to add seconds, not minutes. */
export const HOMEPAGE_SESSIONS = 2_000;

export interface ExampleData {
  name: string;
  definition: LabelDefinition;
  predictions: IngestResult;
  outcomes: IngestResult;
  /** Outcomes whose receipt time lies after now: not arrived yet, so not stored. */
  not_yet_arrived: number;
  /** The cohorts this example opens, oldest first. */
  cohorts: CohortSelector[];
  /** Generator files (predictions, outcomes, target policy) under the demo's directory. */
  dir: string;
}

/** Monday 00:00Z on or before `now`. */
export function mondayOnOrBefore(now: number): number {
  const midnight = Math.floor(now / DAY) * DAY;
  const weekday = (new Date(midnight).getUTCDay() + 6) % 7;
  return midnight - weekday * DAY;
}

export function readTimeline(file: string, now: number): DemoTimeline {
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as DemoTimeline;
    if (Number.isFinite(stored.anchor)) return stored;
  } catch {
    // No earlier run (or an unreadable manifest): this run fixes the timeline.
  }
  return { anchor: mondayOnOrBefore(now) };
}

const iso = (ms: number) => new Date(ms).toISOString();
const exampleFile = (name: string, file: string) => path.join(findProjectRoot(), 'examples', name, file);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/**
 * Writes an example's records as NDJSON and ingests them through the same path as
 * `hindsight ingest`. Outcomes received after `now` have not happened yet in this story and
 * are left out; a rerun ingests the same seeded records again, which are all duplicates.
 */
async function ingestExample(
  db: Knex,
  dir: string,
  records: { predictions: object[]; outcomes: object[] },
  now: number,
): Promise<Pick<ExampleData, 'predictions' | 'outcomes' | 'not_yet_arrived'>> {
  await mkdir(dir, { recursive: true });
  const arrived = records.outcomes.filter((o) => Date.parse((o as { ts_received: string }).ts_received) <= now);
  const predictionsFile = path.join(dir, 'predictions.ndjson');
  const outcomesFile = path.join(dir, 'outcomes.ndjson');
  await writeFile(predictionsFile, toNdjson(records.predictions));
  await writeFile(outcomesFile, toNdjson(arrived));
  const predictions = await ingestNdjsonFile(db, 'predictions', predictionsFile);
  const outcomes = await ingestNdjsonFile(db, 'outcomes', outcomesFile);
  return { predictions, outcomes, not_yet_arrived: records.outcomes.length - arrived.length };
}

async function putDefinition(db: Knex, name: string): Promise<LabelDefinition> {
  return (await putLabelDefinition(db, readJson(exampleFile(name, 'label-definition.json')), `examples/${name}/label-definition.json`))
    .definition;
}

/**
 * An example as its own files define it: its label definition and policy stored, its records
 * ingested from NDJSON under `root/name`. (The fraud example stores the demo's copy of its policy.)
 */
async function loadExample(
  db: Knex,
  root: string,
  name: string,
  records: { predictions: object[]; outcomes: object[] },
  now: number,
): Promise<Omit<ExampleData, 'cohorts'>> {
  const definition = await putDefinition(db, name);
  await putPolicy(db, readJson(exampleFile(name, 'policy.json')), `examples/${name}/policy.json`);
  const dir = path.join(root, name);
  return { name, definition, ...(await ingestExample(db, dir, records, now)), dir };
}

/**
 * Stores a policy under the first version that is free or already holds exactly this
 * content: a rerun changes nothing, and a rerun with another pipeline port adds a version.
 */
async function putPolicyVersion(db: Knex, policy: Record<string, unknown>, where: string): Promise<void> {
  const versions = await db('monitoring_policies').where({ name: policy.name }).orderBy('version').pluck('version');
  for (const version of [...versions, (versions.at(-1) ?? 0) + 1]) {
    try {
      await putPolicy(db, { ...policy, version }, where);
      return;
    } catch (error) {
      if (version === (versions.at(-1) ?? 0) + 1) throw error;
    }
  }
}

/**
 * The fraud example's policy with its hooks pointed at the demo's stand-in pipeline: retraining
 * requests POST to `/retrain`, alert changes to `/alerts`.
 */
export function demoFraudPolicy(pipelineUrl: string): Record<string, unknown> {
  const policy = readJson(exampleFile('fraud', 'policy.json'));
  const retraining = policy.retraining as Record<string, unknown>;
  return {
    ...policy,
    name: 'fraud-monitoring-demo',
    description: `${String(policy.description)} (The demo's copy: its hooks call the demo's stand-in pipeline.)`,
    notifications: { webhook: { url: `${pipelineUrl}/alerts` } },
    retraining: { ...retraining, hook: { webhook: { url: `${pipelineUrl}/retrain` } } },
  };
}

export async function prepareFraud(db: Knex, root: string, timeline: DemoTimeline, now: number, pipelineUrl: string): Promise<ExampleData> {
  const start = timeline.anchor - FRAUD_WEEKS * WEEK;
  const example = generateFraudExample({
    start: iso(start),
    weeks: FRAUD_WEEKS,
    perWeek: FRAUD_PER_WEEK,
    users: DEMO_USERS,
    driftWeek: FRAUD_DRIFT_WEEK,
    outageWeek: FRAUD_OUTAGE_WEEK,
  });
  const definition = await putDefinition(db, 'fraud');
  const dir = path.join(root, 'fraud');
  const ingested = await ingestExample(db, dir, example, now);
  // After the predictions: `policy put` checks the features its score_psi rule names against them.
  await putPolicyVersion(db, demoFraudPolicy(pipelineUrl), 'the demo fraud policy');
  await writeFile(path.join(dir, 'truth.json'), `${JSON.stringify(example.truth, null, 2)}\n`);
  const cohorts = example.truth.weeks.map((week) => ({ ...FRAUD_MODEL, start: week.start, end: week.end }));
  return { name: 'fraud', definition, ...ingested, cohorts, dir };
}

/** One week of sessions four weeks back: its 7-day purchase window and grace are over. */
export async function prepareRecommendations(db: Knex, root: string, timeline: DemoTimeline, now: number): Promise<ExampleData> {
  const example = generateRecommendationsExample({ sessions: DEMO_USERS, start: iso(timeline.anchor - 4 * WEEK) });
  const loaded = await loadExample(db, root, 'recommendations', example, now);
  await writeFile(path.join(loaded.dir, 'target-policy.ndjson'), toNdjson(example.targetPolicy));
  return { ...loaded, cohorts: [{ ...RECS_MODEL, ...example.truth.cohort }] };
}

/**
 * The recommendations example's homepage ranking (three positions, each exploring on its own),
 * the same four weeks back: ingested under its ranking label definition, with the new
 * ranker's target policy and the truth written beside the records.
 */
export async function prepareHomepage(db: Knex, root: string, timeline: DemoTimeline, now: number): Promise<ExampleData> {
  const example = generateHomepageExample({ sessions: HOMEPAGE_SESSIONS, start: iso(timeline.anchor - 4 * WEEK) });
  const definition = (
    await putLabelDefinition(
      db,
      readJson(exampleFile('recommendations', 'homepage-label-definition.json')),
      'examples/recommendations/homepage-label-definition.json',
    )
  ).definition;
  const dir = path.join(root, 'homepage');
  const ingested = await ingestExample(db, dir, example, now);
  await writeFile(path.join(dir, 'target-policy.ndjson'), toNdjson(example.targetPolicy));
  await writeFile(path.join(dir, 'truth.json'), `${JSON.stringify(example.truth, null, 2)}\n`);
  return { name: 'homepage', definition, ...ingested, cohorts: [{ ...HOMEPAGE_MODEL, ...example.truth.cohort }], dir };
}

/** Two weeks of applications 20 weeks back, so both are final and the second's score PSI has a reference. */
export async function prepareCredit(db: Knex, root: string, timeline: DemoTimeline, now: number): Promise<ExampleData> {
  const weeks = [0, 1].map((w) =>
    generateCreditExample({ applicants: DEMO_USERS, seed: 7 + w, start: iso(timeline.anchor - (20 - w) * WEEK) }),
  );
  const loaded = await loadExample(
    db,
    root,
    'credit',
    { predictions: weeks.flatMap((w) => w.predictions), outcomes: weeks.flatMap((w) => w.outcomes) },
    now,
  );
  const cohorts = [0, 1].map((w) => ({
    model_name: 'credit-pd',
    model_version: '2.0.0',
    environment: 'production',
    start: iso(timeline.anchor - (20 - w) * WEEK),
    end: iso(timeline.anchor - (19 - w) * WEEK),
  }));
  return { ...loaded, cohorts };
}

/** One week of orders twelve weeks back: the 45-day window and its 15-day grace are over. */
export async function prepareReturns(db: Knex, root: string, timeline: DemoTimeline, now: number): Promise<ExampleData> {
  const example = generateReturnsExample({ orders: DEMO_USERS, start: iso(timeline.anchor - 12 * WEEK) });
  return { ...(await loadExample(db, root, 'returns', example, now)), cohorts: [{ ...RETURNS_MODEL, ...example.truth.cohort }] };
}
