import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCohort, storeSnapshot } from '../../activities/evaluate/cohorts';
import { evaluateCohort } from '../../activities/evaluate/evaluate-cohort';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { buildCohortReport } from '../../activities/report/cohort-report';
import { INTERVAL_HEADLINE_METRICS } from '../../activities/report/interval-section';
import { HEADLINE_METRICS } from '../../activities/report/report-snapshots';
import type { EvaluationDocument } from '../../contracts/evaluation';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeFraudCohorts, type FraudCohorts } from './report-data';

const testDb = useTestDatabase();
const env = () => ({ DATABASE_URL: testDb.url });

/** The cells of each row of the first table in the section with this id. */
function tableRows(html: string, sectionId: string): string[][] {
  const section = html.match(new RegExp(`<section id="${sectionId}">([\\s\\S]*?)</section>`))?.[1];
  if (section === undefined) throw new Error(`no section ${sectionId}`);
  const body = section.match(/<tbody>([\s\S]*?)<\/tbody>/)![1]!;
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((cell) => cell[1]!),
  );
}

/** Every reference to something to load: a URL in src/href/xlink:href, a CSS url() or @import, a script or link element. */
function externalReferences(html: string): string[] {
  return [
    ...html.matchAll(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\/[^"'\s>]*/gi),
    ...html.matchAll(/url\(|@import|<script|<link|<iframe|<img/gi),
  ].map((m) => m[0]);
}

describe('hindsight report', () => {
  let data: FraudCohorts;
  let dir: string;

  beforeAll(async () => {
    data = await storeFraudCohorts(testDb.db);
    dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes one offline HTML file for the fraud cohort: an SVG per chart, the snapshots' numbers in the headline table, the alerting slice flagged", async () => {
    const file = path.join(dir, 'cohort.html');
    const run = await runHindsightInProcess(['report', '--cohort', data.cohort.cohort_id, '--out', file, '--json'], env());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout);
    expect(printed.path).toBe(file);
    expect(printed.sections.map((s: { id: string }) => s.id)).toEqual([
      'headline',
      'intervals',
      'reliability',
      'label_availability',
      'threshold',
      'slices',
      'score_psi',
      'off_policy',
    ]);
    const charts = printed.sections.flatMap((s: { charts: string[] }) => s.charts);
    expect(charts).toEqual([
      'checkpoints',
      'reliability-P1D',
      'reliability-P7D',
      'reliability-final',
      'label-availability',
      'threshold',
      'score-psi',
      'off-policy',
    ]);

    const html = await readFile(file, 'utf8');
    expect(externalReferences(html)).toEqual([]);
    // One SVG per chart, each inside its figure.
    expect(html.match(/<svg\b/g)).toHaveLength(charts.length);
    for (const id of charts) expect(html).toMatch(new RegExp(`<figure class="chart" data-chart="${id}">\\s*<svg\\b`));

    // The headline table: one row per snapshot in the order taken, each number the snapshot's own.
    const rows = tableRows(html, 'headline');
    expect(rows.map((r) => r.slice(0, 2))).toEqual([
      ['P1D r1', 'provisional'],
      ['P7D r1', 'provisional'],
      ['final r1', 'final'],
      ['final r2', 'revised'],
    ]);
    data.snapshots.forEach((snapshot, i) => {
      const overall = snapshot.document.overall as unknown as Record<string, number | null>;
      HEADLINE_METRICS.forEach((metric, k) => {
        const value = overall[metric]!;
        const cell = rows[i]![3 + k]!;
        if (Number.isInteger(value)) expect(cell).toBe(String(value));
        else expect(Math.abs(Number(cell) - value)).toBeLessThanOrEqual(5e-5);
      });
    });
    // The revision saw the late chargebacks, so the numbers moved between final and revised.
    expect(rows[3]![3 + HEADLINE_METRICS.indexOf('base_rate')]).not.toBe(rows[2]![3 + HEADLINE_METRICS.indexOf('base_rate')]);

    // The recall floor fired in the south (whose low scores charge back too), not in the north.
    const slices = Object.fromEntries(tableRows(html, 'slices').map((r) => [r[0], r]));
    expect(slices['region=south']!.at(-1)).toBe('recall-floor (critical)');
    expect(slices['region=north']!.at(-1)).toBe('—');
    expect(html).toMatch(/<tr class="flagged"><td>region=south<\/td>/);

    // Propensities were logged: the estimators with their intervals; the expected curve comes from the week before.
    const estimates = Object.fromEntries(tableRows(html, 'off_policy').map((r) => [r[0], r]));
    for (const name of ['ipw', 'snips', 'dm', 'dr']) {
      const [value, low, high] = estimates[name]!.slice(1).map(Number);
      expect(low).toBeLessThanOrEqual(value!);
      expect(value).toBeLessThanOrEqual(high!);
    }
    expect(html).toContain(`Expected shares from 1 earlier finalized cohort(s): ${data.previous.cohort_id}.`);
    expect(html).toContain(`Against cohort ${data.previous.cohort_id}`);
  });

  it('shows each headline metric of the settled snapshot (final r2) with the 95% interval `evaluate --intervals` gives the same cohort at its as-of', async () => {
    const settled = data.snapshots[3]!;
    expect([settled.checkpoint, settled.revision]).toEqual(['final', 2]);
    const evaluated = await runHindsightInProcess(
      [
        'evaluate',
        '--model',
        data.cohort.model_name,
        '--version',
        data.cohort.model_version,
        '--environment',
        data.cohort.environment!,
        '--from',
        data.cohort.start,
        '--to',
        data.cohort.end,
        '--label-definition',
        `${data.definition.name}@${data.definition.version}`,
        '--as-of',
        settled.as_of,
        '--intervals',
        '--json',
      ],
      env(),
    );
    expect(evaluated.code).toBe(0);
    const intervals = (JSON.parse(evaluated.stdout) as EvaluationDocument).overall.intervals!.metrics as Record<
      string,
      { value: number | null; low: number | null; high: number | null; method: string }
    >;

    // The section's numbers are exactly the command's…
    const report = await buildCohortReport(testDb.db, data.cohort.cohort_id);
    const section = report.sections.find((s) => s.id === 'intervals')!;
    expect(section.title).toBe('95% intervals of the headline metrics (final r2)');
    expect(section.notes[0]).toContain(`For the revised snapshot final r2 (as of ${settled.as_of}) only`);
    expect(section.tables[0]!.rows).toEqual(
      INTERVAL_HEADLINE_METRICS.map((m) => [m, intervals[m]!.value, intervals[m]!.low, intervals[m]!.high, intervals[m]!.method]),
    );
    expect(section.tables[0]!.rows.map((r) => r[4])).toEqual(['wilson', 'delong', 'bootstrap', 'wilson', 'wilson', 'bootstrap']);
    // …each value the snapshot's own, inside its interval…
    const overall = settled.document.overall as unknown as Record<string, number>;
    for (const metric of INTERVAL_HEADLINE_METRICS) {
      const { value, low, high } = intervals[metric]!;
      expect(Math.abs(value! - overall[metric]!)).toBeLessThan(1e-9);
      expect(low!).toBeLessThan(value!);
      expect(value!).toBeLessThan(high!);
    }

    // …and the HTML file shows them, to four places.
    const file = path.join(dir, 'intervals.html');
    const run = await runHindsightInProcess(['report', '--cohort', data.cohort.cohort_id, '--out', file], env());
    expect(run.code).toBe(0);
    const rows = tableRows(await readFile(file, 'utf8'), 'intervals');
    expect(rows.map((r) => r[0])).toEqual([...INTERVAL_HEADLINE_METRICS]);
    for (const [metric, value, low, high, method] of rows) {
      const expected = intervals[metric!]!;
      expect(Math.abs(Number(value) - expected.value!)).toBeLessThanOrEqual(5e-5);
      expect(Math.abs(Number(low) - expected.low!)).toBeLessThanOrEqual(5e-5);
      expect(Math.abs(Number(high) - expected.high!)).toBeLessThanOrEqual(5e-5);
      expect(method).toBe(expected.method);
    }
  });

  it('reports a model version over a period: its cohorts over time, the week with a firing alert marked and flagged', async () => {
    const file = path.join(dir, 'model.html');
    const run = await runHindsightInProcess(
      [
        'report',
        '--model',
        'fraud-report',
        '--version',
        'v1',
        '--from',
        '2026-06-01T00:00:00Z',
        '--to',
        '2026-06-15T00:00:00Z',
        '--out',
        file,
        '--json',
      ],
      env(),
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).sections).toEqual([
      { id: 'over_time', title: 'Metrics over time', charts: ['over-time'] },
      { id: 'alerts', title: 'Alerts', charts: [] },
    ]);
    const html = await readFile(file, 'utf8');
    expect(externalReferences(html)).toEqual([]);
    expect(html.match(/<svg\b/g)).toHaveLength(1);
    const rows = tableRows(html, 'over_time');
    expect(rows.map((r) => [r[0], r[2], r[3]])).toEqual([
      [data.previous.cohort_id, 'final r1', 'final'],
      [data.cohort.cohort_id, 'final r2', 'revised'],
    ]);
    expect(html).toMatch(new RegExp(`<tr class="flagged"><td>${data.cohort.cohort_id}</td>`));
    // The alert marker over the alerting week names its rule and slice (the alerts table names them apart).
    expect(html).toContain('recall-floor (region=south)');
  });

  it('says there is no off-policy estimate, and no earlier cohort to compare scores with, for a cohort that logged no propensity', async () => {
    const { definition } = await putLabelDefinition(testDb.db, {
      name: 'plain-chargeback',
      version: 1,
      model_name: 'plain-gate',
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['chargeback'],
    });
    await testDb.db.raw(
      `insert into predictions (prediction_id, model_name, model_version, environment, ts_pred, score, content_hash)
       select gen_random_uuid(), 'plain-gate', 'v1', null, '2026-06-01T00:00:00Z'::timestamptz + i * interval '1 hour', (i % 10) / 10.0, 'report-test'
       from generate_series(0, 39) as i`,
    );
    await testDb.db.raw(
      `insert into outcomes (outcome_id, prediction_id, outcome_type, ts_event, ts_received, content_hash)
       select 'plain-' || prediction_id, prediction_id, 'chargeback', ts_pred + interval '1 day', ts_pred + interval '1 day', 'report-test'
       from predictions where model_name = 'plain-gate' and score >= 0.5`,
    );
    const record = {
      cohort_id: 'plain-week',
      model_name: 'plain-gate',
      model_version: 'v1',
      environment: null,
      start: '2026-06-01T00:00:00.000Z',
      end: '2026-06-08T00:00:00.000Z',
      label_definition_name: definition.name,
      label_definition_version: 1,
    };
    await registerCohort(testDb.db, record);
    await storeSnapshot(testDb.db, record, 'final', 1, await evaluateCohort(testDb.db, record, definition, '2026-07-10T00:00:00Z'));
    const file = path.join(dir, 'plain.html');
    const run = await runHindsightInProcess(['report', '--cohort', 'plain-week', '--out', file, '--json'], env());
    expect(run.code).toBe(0);
    const sections = Object.fromEntries(JSON.parse(run.stdout).sections.map((s: { id: string; charts: string[] }) => [s.id, s.charts]));
    expect(sections.off_policy).toEqual([]);
    expect(sections.score_psi).toEqual([]);
    const html = await readFile(file, 'utf8');
    expect(html).toContain('No prediction of this cohort logged a propensity, so no off-policy estimate can be made.');
    expect(html).toContain('No earlier cohort of this model and definition to compare the scores with.');
  });

  it('refuses mixed or missing selectors and an unknown cohort with exit 2 and a message naming the flag', async () => {
    const mixed = await runHindsightInProcess(['report', '--cohort', data.cohort.cohort_id, '--model', 'fraud-report'], env());
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('give either --cohort ID or --model, --version, --from and --to, not both');
    const partial = await runHindsightInProcess(['report', '--model', 'fraud-report', '--version', 'v1'], env());
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain('all of --model, --version, --from and --to');
    const unknown = await runHindsightInProcess(['report', '--cohort', 'no-such-cohort', '--out', path.join(dir, 'none.html')], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('cohort no-such-cohort is not registered');
    const empty = await runHindsightInProcess(
      ['report', '--model', 'fraud-report', '--version', 'v2', '--from', '2026-06-01T00:00:00Z', '--to', '2026-06-15T00:00:00Z'],
      env(),
    );
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('version v2 has no registered cohort');
  });
});
