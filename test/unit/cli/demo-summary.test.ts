import { describe, expect, it } from 'vitest';
import { formatSummary, type DemoSummary, type HomepageSummary } from '../../../cli/demo/summary';

const estimate = (value: number, spread: number) => ({ value, ci_low: value - spread, ci_high: value + spread });
const position = (k: number) => ({
  position: k,
  n: 2000,
  effective_sample_size: 300 / k,
  max_weight: 5,
  unlogged_target_share: 0,
  logged_policy_value: 0.3 / k,
  estimators: {
    ipw: estimate(0.31 / k, 0.05),
    snips: estimate(0.32 / k, 0.05),
    dm: estimate(0.33 / k, 0.01),
    dr: estimate(0.34 / k, 0.04),
  },
});

const homepage: HomepageSummary = {
  cohort_id: 'cohort/homepage-ranker/2.0.0/production/2026-10-05/homepage-clicks@1',
  cohort: { model_name: 'homepage-ranker', model_version: '2.0.0', environment: 'production', start: 's', end: 'e' },
  label_definition: 'homepage-clicks@1',
  as_of: '2026-10-13T00:00:00.000Z',
  snapshot: { checkpoint: 'final', revision: 1 },
  reward: ['click'],
  target_policy: '/tmp/target-policy.ndjson',
  bootstrap: { resamples: 200, seed: 1, alpha: 0.05 },
  ranking: {
    k: 3,
    n_requests: 2000,
    n_requests_with_relevant: 900,
    n_final_requests: 2000,
    ndcg: 0.3721,
    mrr: 0.3582,
    hit_rate: 0.4263,
    precision: 0.1681,
    recall: 1,
  },
  slate: {
    estimators: { sips: estimate(0.44, 0.3), iips: estimate(0.554, 0.09), rips: estimate(0.677, 0.4) },
    n_slates: 2000,
    n_rows: 6000,
    effective_sample_size: 4.2,
    max_weight: 1080,
    logged_policy_value: 0.503,
    reliability_warnings: ['the effective sample size is 4.2 of 2000 slates, under 100: …'],
  },
  by_position: { positions: [1, 2, 3].map(position), reliability_warnings: [] },
  truth: { target_policy_clicks: 0.579, target_policy_clicks_by_position: [0.341, 0.165, 0.072] },
};

const summary = (home: HomepageSummary | null): DemoSummary => ({
  rows: [],
  homepage: home,
  actions: [],
  retraining_requests: [],
  recalibrations: [],
  alert_notifications: 0,
  reports: [],
  links: [],
  reportSubjects: [],
  kept_running: false,
  reused_services: false,
});

describe("the demo's closing text", () => {
  it("prints the homepage ranking's metrics, its slate estimates and its per-position estimates with the truth and the warnings", () => {
    const text = formatSummary(summary(homepage));
    expect(text).toContain(`The homepage ranking (${homepage.cohort_id}, as of 2026-10-13T00:00:00.000Z, final r1):`);
    expect(text).toContain(
      '  production ranking over 2000 requests: NDCG@3 0.372, MRR 0.358, hit rate@3 0.426, precision@3 0.168, recall@3 1.000',
    );
    expect(text).toContain('(truth 0.579, logged 0.503, effective sample 4.2 of 2000 slates)');
    expect(text).toContain('    SIPS 0.440 [0.140, 0.740], IIPS 0.554 [0.464, 0.644], RIPS 0.677 [0.277, 1.077]');
    expect(text).toContain(
      '    position 2: truth 0.165, IPW 0.155 [0.105, 0.205], DR 0.170 [0.130, 0.210], effective sample 150.0 of 2000',
    );
    expect(text).toContain('  warning: the effective sample size is 4.2 of 2000 slates, under 100: …');
    expect(formatSummary(summary(null))).not.toContain('homepage');
  });
});
