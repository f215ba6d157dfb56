import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationDocument } from '../../contracts/evaluation';
import type { CreditTruth } from '../../examples/credit/generate';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';

const testDb = useTestDatabase();
const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'credit');
const GENERATOR = path.join(__dirname, '..', '..', 'dist', 'examples', 'credit', 'generate.js');
let truth: CreditTruth;
let document: EvaluationDocument;

/** The commands of examples/credit/README.md, in order, against the test database. */
beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-credit-'));
  execFileSync(process.execPath, [GENERATOR, dir]);
  truth = JSON.parse(await readFile(path.join(dir, 'truth.json'), 'utf8'));
  const env = { DATABASE_URL: testDb.url };
  for (const args of [
    ['label-definition', 'put', path.join(EXAMPLE, 'label-definition.json')],
    ['ingest', 'predictions', path.join(dir, 'predictions.ndjson')],
    ['ingest', 'outcomes', path.join(dir, 'outcomes.ndjson')],
  ]) {
    const run = await runHindsightInProcess([...args, '--json'], env);
    expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  }
  // Freshly loaded partitions have no planner statistics until autovacuum comes by, and the
  // join's plan without them takes minutes instead of a second.
  await testDb.db.raw('analyze');
  const run = await runHindsightInProcess(
    [
      'evaluate',
      '--model',
      'credit-pd',
      '--version',
      '2.0.0',
      '--from',
      '2026-03-02T00:00:00Z',
      '--to',
      '2026-03-09T00:00:00Z',
      '--label-definition',
      'loan-default-90d',
      '--as-of',
      '2026-07-01T00:00:00Z',
      '--propensity-weighted',
      '--json',
    ],
    env,
  );
  expect(run.code).toBe(0);
  document = JSON.parse(run.stdout);
});

describe('the credit example (randomized approval band)', () => {
  it('labels only approved loans, and their default rate is biased low against every applicant the policy could approve', () => {
    const weighted = document.propensity_weighted!;
    expect(document.overall.n).toBe(truth.applicants);
    expect(weighted.n_without_propensity).toBe(0);
    const approvedOnly = document.overall.base_rate!;
    expect(approvedOnly).toBeLessThan(weighted.base_rate.ci_low!);
    expect(approvedOnly).toBeLessThan(truth.default_rate - 0.01);
  });

  it('the propensity-weighted default rate covers the truth with its 95% interval', () => {
    const { ci_low, ci_high } = document.propensity_weighted!.base_rate;
    expect(ci_low!).toBeLessThanOrEqual(truth.default_rate);
    expect(ci_high!).toBeGreaterThanOrEqual(truth.default_rate);
  });

  it('the propensity-weighted ROC AUC stands beside the approved-only one and lies near the truth', () => {
    // The AUC is barely biased here (a band of moderate risk); the README says so.
    expect((document.overall as { roc_auc: number }).roc_auc).not.toBeNull();
    expect(Math.abs(document.propensity_weighted!.roc_auc! - truth.roc_auc)).toBeLessThan(0.02);
  });

  it('warns of selection bias: the band (exploration) and the cut-off (policy) disagree beyond their intervals', () => {
    expect(document.traffic!.comparison.find((c) => c.metric === 'base_rate')!.differs).toBe(true);
    expect(document.traffic!.selection_bias_warning).toMatch(
      /^selection bias: exploration and policy traffic differ beyond their 95% intervals on base_rate/,
    );
  });
});
