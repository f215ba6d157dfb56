import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCohort, storeSnapshot, type StoredSnapshot } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { RANKING_METRICS } from '../../activities/report/ranking-section';
import { generateHomepageExample, HOMEPAGE_MODEL } from '../../examples/recommendations/homepage';
import type { RankingMetrics } from '../../stats/ranking-metrics';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';

/**
 * The report of a cohort under a ranking definition (the recommendations example's homepage
 * ranking): its ranking section shows each snapshot's NDCG@k, MRR, hit rate, precision and
 * recall, provisional and final, and each slice's of the settled snapshot.
 */
const testDb = useTestDatabase();
const ROOT = path.join(__dirname, '..', '..');
let dir: string;
let cohortId: string;
let snapshots: StoredSnapshot[];

/** The cells of each row of the `index`th table in the section with this id. */
function tableRows(html: string, sectionId: string, index: number): string[][] {
  const section = html.match(new RegExp(`<section id="${sectionId}">([\\s\\S]*?)</section>`))?.[1];
  if (section === undefined) throw new Error(`no section ${sectionId}`);
  const body = [...section.matchAll(/<tbody>([\s\S]*?)<\/tbody>/g)][index]![1]!;
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((cell) => cell[1]!),
  );
}

/** A table cell against the number it shows: counts whole, rates to four places. */
function expectCell(cell: string, value: number | null): void {
  if (value === null) expect(cell).toBe('—');
  else if (Number.isInteger(value)) expect(cell).toBe(String(value));
  else expect(cell).toBe(value.toFixed(4));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-report-ranking-'));
  const example = generateHomepageExample({ sessions: 400 });
  await storeRows(testDb.db, 'predictions', example.predictions);
  await storeRows(testDb.db, 'outcomes', example.outcomes);
  const json = JSON.parse(await readFile(path.join(ROOT, 'examples', 'recommendations', 'homepage-label-definition.json'), 'utf8'));
  const { definition } = await putLabelDefinition(testDb.db, json, 'homepage-label-definition.json');
  const { start, end } = example.truth.cohort;
  cohortId = 'homepage-week';
  const record = {
    cohort_id: cohortId,
    ...HOMEPAGE_MODEL,
    start,
    end,
    label_definition_name: definition.name,
    label_definition_version: definition.version,
  };
  await registerCohort(testDb.db, record);
  // Provisional at end + 1 hour, when the last day's sessions are not final yet; final at end + the window.
  const at = (ms: number) => new Date(Date.parse(end) + ms).toISOString();
  snapshots = [
    await storeSnapshot(testDb.db, record, 'PT1H', 1, await evaluateCohort(testDb.db, record, definition, at(3_600_000))),
    await storeSnapshot(testDb.db, record, 'final', 1, await evaluateCohort(testDb.db, record, definition, at(86_400_000))),
  ];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the report of a ranking cohort', () => {
  it("shows each snapshot's NDCG@3, MRR, hit rate, precision and recall, provisional and final, and each slice's", async () => {
    const file = path.join(dir, 'ranking.html');
    const run = await runHindsightInProcess(['report', '--cohort', cohortId, '--out', file, '--json'], { DATABASE_URL: testDb.url });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const sections = JSON.parse(run.stdout).sections as Array<{ id: string; charts: string[] }>;
    // Right after the headline metrics' sections, before the item-level ones.
    const ids = sections.map((s) => s.id);
    expect(ids.indexOf('ranking')).toBeGreaterThan(ids.indexOf('headline'));
    expect(ids.indexOf('ranking')).toBeLessThan(ids.indexOf('reliability'));
    expect(sections.find((s) => s.id === 'ranking')!.charts).toEqual(['ranking']);
    const html = await readFile(file, 'utf8');
    expect(html).toMatch(/<figure class="chart" data-chart="ranking">\s*<svg\b/);
    expect(html).toContain('<th>NDCG@3</th><th>MRR</th><th>hit rate@3</th><th>precision@3</th><th>recall@3</th>');

    const rows = tableRows(html, 'ranking', 0);
    expect(rows.map((r) => r.slice(0, 2))).toEqual([
      ['PT1H r1', 'provisional'],
      ['final r1', 'final'],
    ]);
    snapshots.forEach((snapshot, i) => {
      const ranking = (snapshot.document.overall as { ranking?: RankingMetrics }).ranking!;
      expect(ranking.n_requests).toBe(400);
      expectCell(rows[i]![3]!, ranking.n_requests);
      RANKING_METRICS.forEach((metric, k) => expectCell(rows[i]![4 + k]!, ranking[metric]));
    });
    // The provisional snapshot came before the last day's sessions were final.
    const [provisional, final] = snapshots.map((s) => (s.document.overall as { ranking?: RankingMetrics }).ranking!);
    expect(provisional!.n_final_requests).toBeLessThan(final!.n_final_requests);

    const slices = tableRows(html, 'ranking', 1);
    const settled = snapshots[1]!.document;
    const groups = [
      { label: 'overall', ranking: (settled.overall as { ranking?: RankingMetrics }).ranking! },
      ...(settled.slices as Array<{ dimension: string; value: string; ranking?: RankingMetrics }>).map((s) => ({
        label: `${s.dimension}=${s.value}`,
        ranking: s.ranking!,
      })),
    ];
    expect(slices.map((r) => r[0])).toEqual(groups.map((g) => g.label));
    expect(groups.length).toBeGreaterThan(2);
    groups.forEach((group, i) => {
      expectCell(slices[i]![1]!, group.ranking.n_requests);
      RANKING_METRICS.forEach((metric, k) => expectCell(slices[i]![2 + k]!, group.ranking[metric]));
    });
  });

  it("the model report over a period shows each ranking cohort's NDCG@3, MRR, hit rate, precision and recall at its settled snapshot", async () => {
    const file = path.join(dir, 'ranking-model.html');
    const record = await testDb.db('cohorts').where({ cohort_id: cohortId }).first('start_ts', 'end_ts');
    const run = await runHindsightInProcess(
      [
        'report',
        '--model',
        HOMEPAGE_MODEL.model_name,
        '--version',
        HOMEPAGE_MODEL.model_version,
        '--from',
        new Date(record.start_ts).toISOString(),
        '--to',
        new Date(record.end_ts).toISOString(),
        '--out',
        file,
        '--json',
      ],
      { DATABASE_URL: testDb.url },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const sections = JSON.parse(run.stdout).sections as Array<{ id: string; charts: string[] }>;
    expect(sections.find((s) => s.id === 'ranking_over_time')!.charts).toEqual(['ranking-over-time']);
    const html = await readFile(file, 'utf8');
    const [row] = tableRows(html, 'ranking_over_time', 0);
    const ranking = (snapshots[1]!.document.overall as { ranking?: RankingMetrics }).ranking!;
    expect(row!.slice(0, 3)).toEqual([cohortId, new Date(record.start_ts).toISOString(), 'final r1']);
    expectCell(row![3]!, ranking.n_requests);
    RANKING_METRICS.forEach((metric, k) => expectCell(row![4 + k]!, ranking[metric]));
  });

  it('a cohort of every environment (none named) finds the propensities its predictions logged, for its off-policy section', async () => {
    const { start_ts, end_ts, label_definition_name, label_definition_version } = await testDb
      .db('cohorts')
      .where({ cohort_id: cohortId })
      .first();
    const record = {
      cohort_id: 'homepage-any-environment',
      ...HOMEPAGE_MODEL,
      environment: null,
      start: new Date(start_ts).toISOString(),
      end: new Date(end_ts).toISOString(),
      label_definition_name,
      label_definition_version,
    };
    await registerCohort(testDb.db, record);
    const json = JSON.parse(await readFile(path.join(ROOT, 'examples', 'recommendations', 'homepage-label-definition.json'), 'utf8'));
    const { definition } = await putLabelDefinition(testDb.db, json, 'homepage-label-definition.json');
    const at = new Date(Date.parse(record.end) + 86_400_000).toISOString();
    await storeSnapshot(testDb.db, record, 'final', 1, await evaluateCohort(testDb.db, record, definition, at));
    const file = path.join(dir, 'any-environment.html');
    const run = await runHindsightInProcess(['report', '--cohort', record.cohort_id, '--out', file], { DATABASE_URL: testDb.url });
    expect(run.code, run.stderr).toBe(0);
    const section = (await readFile(file, 'utf8')).match(/<section id="off_policy">([\s\S]*?)<\/section>/)![1]!;
    expect(section, section).not.toContain('logged a propensity');
    expect(section, section).toContain('Propensities were logged');
  });
});
