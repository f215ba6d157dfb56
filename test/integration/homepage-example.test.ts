import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateHomepageExample, HOMEPAGE_MODEL, type HomepageExample } from '../../examples/recommendations/homepage';
import { toNdjson } from '../../examples/generator-support';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

/**
 * The recommendations example's homepage ranking (examples/recommendations/README.md): the new
 * ranker per position and as a slate from the production ranker's logs, and the production
 * ranking's own ranking metrics.
 */
const testDb = useTestDatabase();
let example: HomepageExample;
let target: string;
let cohort: string[];

async function hindsight(args: string[]): Promise<any> {
  const run = await runHindsightInProcess([...args, '--json'], { DATABASE_URL: testDb.url });
  expect([0, 1], `${args.join(' ')}: ${run.stderr}`).toContain(run.code);
  return JSON.parse(run.stdout);
}

beforeAll(async () => {
  example = generateHomepageExample({ sessions: 2500 });
  await storeRows(testDb.db, 'predictions', example.predictions);
  await storeRows(testDb.db, 'outcomes', example.outcomes);
  // Freshly loaded partitions have no planner statistics until autovacuum comes by.
  await testDb.db.raw('analyze');
  await hindsight([
    'label-definition',
    'put',
    path.join(__dirname, '..', '..', 'examples', 'recommendations', 'homepage-label-definition.json'),
  ]);
  target = path.join(await mkdtemp(path.join(os.tmpdir(), 'hindsight-homepage-')), 'target-policy.ndjson');
  await writeFile(target, toNdjson(example.targetPolicy));
  const { start, end } = example.truth.cohort;
  cohort = [
    '--model',
    HOMEPAGE_MODEL.model_name,
    '--version',
    HOMEPAGE_MODEL.model_version,
    '--from',
    start,
    '--to',
    end,
    '--label-definition',
    'homepage-clicks',
    '--as-of',
    new Date(Date.parse(end) + 2 * 86_400_000).toISOString(),
  ];
});

const covers = (estimate: { ci_low: number; ci_high: number }, truth: number) => estimate.ci_low <= truth && truth <= estimate.ci_high;

describe('the homepage ranking example', () => {
  it("estimates the new ranker's clicks per session as a slate (SIPS, IIPS, RIPS) and per position, the intervals covering the truth", async () => {
    const slate = await hindsight(['ope', ...cohort, '--reward', 'click', '--target-policy', target, '--slate']);
    expect(slate.n_slates).toBe(2500);
    for (const name of ['sips', 'iips', 'rips'])
      expect(covers(slate.estimators[name], example.truth.target_policy_clicks), `${name} ${JSON.stringify(slate.estimators[name])}`).toBe(
        true,
      );
    // A deterministic ranking of three positions rarely matches a logged one as a whole: SIPS rests on a
    // handful of slates (and warns), IIPS's position-wise weights give a far narrower interval.
    expect(slate.effective_sample_size).toBeLessThan(100);
    expect(slate.reliability_warnings[0]).toMatch(/^the effective sample size is .* of 2500 slates/);
    const width = (name: string) => slate.estimators[name].ci_high - slate.estimators[name].ci_low;
    expect(width('iips')).toBeLessThan(width('sips') / 3);
    const byPosition = await hindsight(['ope', ...cohort, '--reward', 'click', '--target-policy', target, '--by', 'position']);
    expect(byPosition.reward_model).toBe('per_action_position_mean');
    byPosition.by_position.forEach(
      (part: { position: number; estimators: Record<string, { ci_low: number; ci_high: number }> }, k: number) => {
        expect(part.position).toBe(k + 1);
        // IPW and DR, unbiased; SNIPS trades a small-sample bias for variance (at position 2 here its interval ends just short).
        for (const name of ['ipw', 'dr'])
          expect(covers(part.estimators[name]!, example.truth.target_policy_clicks_by_position[k]!), `position ${k + 1} ${name}`).toBe(
            true,
          );
      },
    );
  });

  it("gives the production ranking's NDCG@3, MRR, hit rate, precision and recall per session", async () => {
    const document = await hindsight(['evaluate', ...cohort]);
    expect(document.overall.ranking).toMatchObject({ k: 3, n_requests: 2500, n_final_requests: 2500 });
    // Clicks per session / 3 positions is the mean precision@3 when every session shows three items.
    const clicks = example.outcomes.length / 2500;
    expect(document.overall.ranking.precision).toBeCloseTo(clicks / 3, 12);
    expect(document.overall.ranking.hit_rate).toBeGreaterThan(0);
    expect(document.slices.length).toBeGreaterThan(1);
  });
});
