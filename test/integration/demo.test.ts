import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../browser/chromium';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'hindsight.js');
const ARTIFACTS = path.join(ROOT, 'test', 'artifacts');
/** The machine's PostgreSQL, where the homepage ranking's files are loaded again to check the demo's numbers against the commands'. */
const testDb = useTestDatabase();

/** A port nothing listens on now (the OS picks it, then it is released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** `hindsight demo --json` as a user runs it: no DATABASE_URL, no TEMPORAL_ADDRESS. */
function runDemo(stateDir: string, ports: Record<'db' | 'temporal' | 'ui' | 'pipeline', number>): Promise<DemoRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HINDSIGHT_STATE_DIR: stateDir };
  delete env.DATABASE_URL;
  delete env.TEMPORAL_ADDRESS;
  delete env.HINDSIGHT_LOG_LEVEL;
  const args = [
    BIN,
    'demo',
    '--json',
    '--db-port',
    String(ports.db),
    '--temporal-port',
    String(ports.temporal),
    '--ui-port',
    String(ports.ui),
    '--pipeline-port',
    String(ports.pipeline),
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: stateDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

describe('hindsight demo on embedded services, run twice', () => {
  let stateDir: string;
  let ports: Record<'db' | 'temporal' | 'ui' | 'pipeline', number>;
  let first: DemoRun;
  let second: DemoRun;
  let summary: any;
  let again: any;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-demo-'));
    ports = { db: await freePort(), temporal: await freePort(), ui: await freePort(), pipeline: await freePort() };
    first = await runDemo(stateDir, ports);
    second = await runDemo(stateDir, ports);
    // The wall times go to the log, for the record; the benchmark of speed is the demo itself.
    process.stderr.write(`hindsight demo: first run ${first.seconds.toFixed(1)} s, second ${second.seconds.toFixed(1)} s\n`);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    summary = JSON.parse(first.stdout);
    again = JSON.parse(second.stdout);
  }, 900_000);
  afterAll(async () => {
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  const row = (document: any, example: string) => document.rows.find((r: any) => r.example.startsWith(example));

  it('shows its progress as it works, on stderr, and ends by saying everything is stopped', () => {
    for (const step of [
      'start the embedded services',
      'backfill the weekly fraud schedule',
      'wait for the live cohort to close',
      'wait for the alert notifications to be delivered',
      'summarize and write the reports',
    ]) {
      expect(first.stderr).toContain(`✔ ${step}`);
    }
    expect(first.stderr).toContain('demo done: the worker, the embedded database and the Temporal dev server are stopped');
    // Its Prometheus endpoint on a free port, said at start (docs/dashboards.md).
    expect(first.stderr).toMatch(/^ {2}Prometheus metrics: http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
    expect(first.stderr).not.toMatch(/\[WARN\]|\[ERROR\]/);
  });

  it('the fraud schedule’s drift week raises a quality alert and its outage week a labeling one, each diagnosed', () => {
    const fraud = row(summary, 'fraud');
    expect(fraud.cohorts).toBe(20);
    expect(fraud.alerts['recall-wow']).toBeGreaterThanOrEqual(1);
    expect(fraud.alerts['labels-on-time']).toBe(1);
    expect(fraud.diagnoses).toEqual({ quality: 1, labeling: 1 });
  });

  it('the quality alert asks the retraining pipeline once and a recalibration runs to its end', () => {
    expect(summary.retraining_requests).toHaveLength(1);
    expect(summary.retraining_requests[0]).toMatchObject({ model_version: '3.2.0', verdict: 'quality' });
    expect(summary.recalibrations).toHaveLength(1);
    expect(['promoted', 'not_improved']).toContain(summary.recalibrations[0].phase);
    expect(summary.alert_notifications).toBeGreaterThanOrEqual(
      Object.values(row(summary, 'fraud').alerts as Record<string, number>).reduce((a, b) => a + b, 0),
    );
  });

  it('every example has its headline numbers, and the live cohort closed with a final snapshot', () => {
    expect(row(summary, 'recommendations').headline).toMatch(/logged CTR 0\.\d+; new ranker IPW 0\.\d+ \[0\.\d+, 0\.\d+\], SNIPS 0\.\d+/);
    expect(row(summary, 'credit').headline).toMatch(
      /approved-only 0\.\d+, propensity-weighted 0\.\d+ \[0\.\d+, 0\.\d+\]; KS 0\.\d+; score PSI 0\.\d+/,
    );
    expect(row(summary, 'returns').headline).toMatch(/final return rate 0\.\d+/);
    expect(row(summary, 'live').headline).toMatch(/^final ROC AUC 0\.\d+/);
  });

  it("the homepage ranking: the production ranking's metrics and the new ranker per position and as a slate, as evaluate and ope give them", async () => {
    const homepage = summary.homepage;
    expect(row(summary, 'homepage').headline).toMatch(
      /^NDCG@3 0\.\d+, MRR 0\.\d+, hit rate 0\.\d+; new ranker clicks\/session SIPS \d\.\d+ \[\d\.\d+, \d\.\d+\], IIPS .*, RIPS /,
    );
    expect(homepage.snapshot).toEqual({ checkpoint: 'final', revision: 1 });
    expect(homepage.ranking).toMatchObject({ k: 3, n_requests: 2000, n_final_requests: 2000 });
    expect(homepage.slate.n_slates).toBe(2000);
    expect(homepage.by_position.positions.map((p: any) => p.position)).toEqual([1, 2, 3]);
    // SIPS rests on a few slates whose every position the new ranker would have chosen: the demo says so.
    expect(homepage.slate.reliability_warnings[0]).toMatch(/^the effective sample size is .* of 2000 slates/);

    // The same files, loaded into another database, give the same numbers through the commands.
    const cli = async (args: string[]) => {
      const run = await runHindsightInProcess([...args, '--json'], { DATABASE_URL: testDb.url });
      expect([0, 1], `${args.join(' ')}: ${run.stderr}`).toContain(run.code);
      return JSON.parse(run.stdout);
    };
    const dir = path.dirname(homepage.target_policy);
    await cli(['label-definition', 'put', path.join(ROOT, 'examples', 'recommendations', 'homepage-label-definition.json')]);
    await cli(['ingest', 'predictions', path.join(dir, 'predictions.ndjson')]);
    await cli(['ingest', 'outcomes', path.join(dir, 'outcomes.ndjson')]);
    const { cohort, bootstrap } = homepage;
    const args = [
      ...['--model', cohort.model_name, '--version', cohort.model_version, '--environment', cohort.environment],
      ...['--from', cohort.start, '--to', cohort.end, '--label-definition', homepage.label_definition, '--as-of', homepage.as_of],
    ];
    const evaluated = await cli(['evaluate', ...args]);
    expect(homepage.ranking).toEqual(evaluated.overall.ranking);
    const ope = [
      ...['ope', ...args, '--reward', homepage.reward.join(','), '--target-policy', homepage.target_policy],
      ...['--resamples', String(bootstrap.resamples), '--seed', String(bootstrap.seed), '--alpha', String(bootstrap.alpha)],
    ];
    const slate = await cli([...ope, '--slate']);
    for (const key of [
      'estimators',
      'n_slates',
      'n_rows',
      'effective_sample_size',
      'max_weight',
      'logged_policy_value',
      'reliability_warnings',
    ])
      expect(homepage.slate[key], key).toEqual(slate[key]);
    const byPosition = await cli([...ope, '--by', 'position']);
    expect(homepage.by_position.positions).toEqual(byPosition.by_position);
    expect(homepage.by_position.reliability_warnings).toEqual(byPosition.reliability_warnings);
  });

  it('prints the report paths and the Web UI links of the workflows', () => {
    expect(summary.reports.map((r: any) => r.what)).toEqual([
      'fraud model, weekly',
      'fraud drift week',
      'fraud outage week',
      'recommendations',
      'homepage',
      'credit',
      'returns',
      'live cohort',
    ]);
    for (const report of summary.reports) expect(readFileSync(report.path, 'utf8')).toContain('<svg');
    const ui = `http://127.0.0.1:${ports.ui}/namespaces/default/`;
    expect(summary.links.map((l: any) => l.url.slice(0, ui.length))).toEqual(summary.links.map(() => ui));
    expect(summary.links.map((l: any) => l.what)).toEqual(
      expect.arrayContaining([
        'the live cohort',
        'the fraud drift week',
        'fraud retraining requests',
        'fraud recalibration',
        'the weekly fraud schedule',
      ]),
    );
  });

  it('runs again without a reset: the same cohorts and alerts, no second retraining request, a new live cohort', () => {
    expect(second.stderr).toContain('(stored by an earlier run)');
    expect(row(again, 'fraud')).toEqual(row(summary, 'fraud'));
    expect(again.retraining_requests).toEqual(summary.retraining_requests);
    expect(again.recalibrations).toEqual(summary.recalibrations);
    expect(row(again, 'live').headline).toMatch(/^final ROC AUC 0\.\d+/);
    expect(again.links.find((l: any) => l.what === 'the live cohort').url).not.toBe(
      summary.links.find((l: any) => l.what === 'the live cohort').url,
    );
  });

  it('leaves nothing running: its ports are free and the embedded database unlocked', async () => {
    for (const port of Object.values(ports)) expect(await portIsFree(port), `port ${port}`).toBe(true);
    expect(existsSync(path.join(stateDir, '.hindsight', 'pglite.lock'))).toBe(false);
    expect(existsSync(path.join(stateDir, '.hindsight', 'dev.json'))).toBe(false);
  });

  it("the homepage ranking's report shows its ranking metrics per snapshot, each the stored snapshot's", () => {
    const html = readFileSync(summary.reports.find((r: any) => r.what === 'homepage').path, 'utf8');
    const section = html.match(/<section id="ranking">([\s\S]*?)<\/section>/)![1]!;
    expect(section).toContain('<th>NDCG@3</th><th>MRR</th><th>hit rate@3</th><th>precision@3</th><th>recall@3</th>');
    expect(section).toMatch(/<figure class="chart" data-chart="ranking">\s*<svg\b/);
    const rows = [...section.match(/<tbody>([\s\S]*?)<\/tbody>/)![1]!.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((r) =>
      [...r[1]!.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((cell) => cell[1]!),
    );
    // The provisional PT1H snapshot, then the final one, whose numbers the summary carries.
    expect(rows.map((r) => r.slice(0, 2))).toEqual([
      ['PT1H r1', 'provisional'],
      ['final r1', 'final'],
    ]);
    const { ranking } = summary.homepage;
    expect(rows[1]!.slice(3)).toEqual([
      String(ranking.n_requests),
      // As the report writes a number: whole ones as they are (recall@3 is 1: a session shows three items), others to four places.
      ...['ndcg', 'mrr', 'hit_rate', 'precision', 'recall'].map((m) =>
        Number.isInteger(ranking[m]) ? String(ranking[m]) : (ranking[m] as number).toFixed(4),
      ),
    ]);
  });

  it('the fraud drift week’s report, opened in Chromium, draws its reliability diagrams and checkpoint chart', async () => {
    const file = summary.reports.find((r: any) => r.what === 'fraud drift week').path as string;
    await mkdir(ARTIFACTS, { recursive: true });
    const browser = await launchChromium();
    try {
      const { page } = browser;
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      for (const chart of ['reliability-P30D', 'reliability-P60D', 'reliability-final', 'checkpoints']) {
        const marks = await page
          .locator(`figure[data-chart="${chart}"] svg g.mark-line path, figure[data-chart="${chart}"] svg g.mark-symbol path`)
          .count();
        expect(marks, chart).toBeGreaterThan(3);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, 'demo-fraud-drift-week.png'), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
