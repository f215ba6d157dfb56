import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeFraudCohorts } from '../integration/report-data';
import { launchChromium, type HeadlessChromium } from './chromium';

const testDb = useTestDatabase();
/** Git-ignored; CI keeps them as the run's artifacts. */
const ARTIFACTS = path.join(__dirname, '..', 'artifacts');

describe('a report opened in Chromium', () => {
  let browser: HeadlessChromium | undefined;
  let dir: string;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-report-browser-'));
    await storeFraudCohorts(testDb.db);
  });
  afterAll(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("draws the fraud cohort's reliability diagrams and checkpoint chart, offline, with no console error", async () => {
    const file = path.join(dir, 'report.html');
    const run = await runHindsightInProcess(['report', '--cohort', 'fraud-report-week-1', '--out', file], { DATABASE_URL: testDb.url });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${file}\n`);

    browser = await launchChromium();
    const { page } = browser;
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // Nothing may be fetched: every request other than the file itself is recorded and refused.
    const requests: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url === pathToFileURL(file).href) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    await expect.poll(() => page.title()).toBe('Cohort fraud-report-week-1');
    /** The chart's drawn marks: Vega's SVG paths (lines, symbols) with a non-empty box. */
    const drawnMarks = (chart: string) =>
      page.locator(`figure[data-chart="${chart}"] svg g.mark-line path, figure[data-chart="${chart}"] svg g.mark-symbol path`).evaluateAll(
        (paths) =>
          paths.filter((p) => {
            const box = (p as SVGGraphicsElement).getBBox();
            return box.width > 0 || box.height > 0;
          }).length,
      );
    for (const checkpoint of ['P1D', 'P7D', 'final']) {
      const chart = page.locator(`figure[data-chart="reliability-${checkpoint}"] svg`);
      await expect.poll(() => chart.count()).toBe(1);
      // The diagonal and both binnings' lines, and a symbol per non-empty bin.
      expect(await drawnMarks(`reliability-${checkpoint}`)).toBeGreaterThanOrEqual(3 + 10);
      const box = await chart.boundingBox();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.height).toBeGreaterThan(200);
    }
    // Seven metrics over four snapshots: a line and four points each.
    expect(await drawnMarks('checkpoints')).toBeGreaterThanOrEqual(7 * 5);

    await page.locator('figure[data-chart="reliability-final"]').screenshot({ path: path.join(ARTIFACTS, 'report-reliability-final.png') });
    await page.locator('figure[data-chart="checkpoints"]').screenshot({ path: path.join(ARTIFACTS, 'report-checkpoints.png') });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-cohort.png'), fullPage: true });
    expect(requests).toEqual([]);
    expect(problems).toEqual([]);
  });
});
