import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsEndpoint, type MetricsEndpoint } from '../../activities/metrics/exposition';
import { startIngestServer, type IngestServer } from '../../activities/ingest/ingest-server';
import { createLifecycleActivities } from '../../activities/temporal/lifecycle';
import { HEADLINE_METRICS, METRICS_READ } from '../../sql/metrics';
import { createDatabase } from '../../workers/database';
import { useTestDatabase } from '../support/database';
import { HISTORY, seedMonitoringHistory, type SeededHistory } from '../support/monitoring-history';
import { only, parseExposition, promtool, select, type Sample } from '../support/prometheus-text';

const testDb = useTestDatabase();
const SERIES = { model: HISTORY.model, version: HISTORY.version, environment: HISTORY.environment, label_definition: HISTORY.definition };

let endpoint: MetricsEndpoint;
let server: IngestServer;
let history: SeededHistory;
let text: string;
let samples: Sample[];

async function scrape(): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The stored document of a cohort's snapshot at a checkpoint, latest revision. */
async function storedOverall(cohortId: string, checkpoint: string): Promise<Record<string, number | null>> {
  const row = await testDb.db('metric_snapshots').where({ cohort_id: cohortId, checkpoint }).orderBy('revision', 'desc').first('document');
  return row.document.overall;
}

beforeAll(async () => {
  // Before the history, so the lifecycle's evaluations are counted.
  endpoint = createMetricsEndpoint(testDb.db);
  history = await seedMonitoringHistory(testDb.db);
  server = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, metrics: endpoint });
  text = await scrape();
  samples = parseExposition(text);
}, 120_000);
afterAll(async () => server?.close());

describe('GET /metrics from the database', () => {
  it('each headline metric is the latest revision of the most recent cohort with a snapshot at that checkpoint', async () => {
    const final = await storedOverall(history.cohorts[HISTORY.finalized - 1]!.cohort_id, 'final');
    const p7d = await storedOverall(history.cohorts[HISTORY.weeks - 1]!.cohort_id, 'P7D');
    for (const metric of HEADLINE_METRICS.binary) {
      expect(only(samples, 'hindsight_snapshot_metric', { ...SERIES, checkpoint: 'final', metric }), metric).toBe(final[metric]);
      expect(only(samples, 'hindsight_snapshot_metric', { ...SERIES, checkpoint: 'P7D', metric }), metric).toBe(p7d[metric]);
    }
    // Revision 2 (the late label) is what shows, not revision 1.
    const first = await testDb
      .db('metric_snapshots')
      .where({ cohort_id: history.cohorts[HISTORY.finalized - 1]!.cohort_id, revision: 1, checkpoint: 'final' })
      .first('document');
    expect(first.document.overall.recall).not.toBe(final.recall);
    expect(select(samples, 'hindsight_snapshot_metric', { metric: 'mae' })).toEqual([]);
    expect(only(samples, 'hindsight_snapshot_as_of_timestamp_seconds', { ...SERIES, checkpoint: 'final' })).toBe(
      Date.parse(history.revisedAsOf) / 1000,
    );
    expect(only(samples, 'hindsight_snapshot_as_of_timestamp_seconds', { ...SERIES, checkpoint: 'P7D' })).toBe(
      Date.parse(history.asOf[HISTORY.weeks - 1]!.p7d) / 1000,
    );
    expect(only(samples, 'hindsight_cohort_duration_seconds', { ...SERIES, checkpoint: 'P7D' })).toBe(7 * 86_400);
  });

  it('label availability per checkpoint, against the mean of the four cohorts before it at the same checkpoint', async () => {
    const availability = await Promise.all(history.cohorts.map(async (c) => (await storedOverall(c.cohort_id, 'P7D')).label_availability!));
    expect(only(samples, 'hindsight_label_availability_ratio', { ...SERIES, checkpoint: 'P7D' })).toBe(availability[5]);
    const expected = (availability[1]! + availability[2]! + availability[3]! + availability[4]!) / 4;
    expect(only(samples, 'hindsight_label_availability_expected_ratio', { ...SERIES, checkpoint: 'P7D' })).toBeCloseTo(expected, 12);
    expect(only(samples, 'hindsight_label_availability_ratio', { ...SERIES, checkpoint: 'final' })).toBe(1);
  });

  it('label lag quantiles of the most recent finalized cohort: prediction to the receipt of its first outcome', async () => {
    const last = history.cohorts[HISTORY.finalized - 1]!;
    // Recomputed from the tables, not from the evaluation's join.
    const { rows } = await testDb.db.raw(
      `select percentile_cont(array[0.5, 0.9, 0.99]) within group (order by lag) as q
       from (select extract(epoch from min(o.ts_received) - p.ts_pred) as lag
             from predictions p join outcomes o on o.prediction_id = p.prediction_id
             where p.model_name = ? and p.ts_pred >= ? and p.ts_pred < ? and o.ts_received <= ?
             group by p.prediction_id, p.ts_pred) lags`,
      [HISTORY.model, last.start, last.end, history.revisedAsOf],
    );
    const [p50, p90, p99] = rows[0].q as number[];
    const lag = { model: HISTORY.model, label_definition: HISTORY.definition };
    expect(only(samples, 'hindsight_label_lag_seconds', { ...lag, quantile: '0.5' })).toBeCloseTo(p50!, 6);
    expect(only(samples, 'hindsight_label_lag_seconds', { ...lag, quantile: '0.9' })).toBeCloseTo(p90!, 6);
    expect(only(samples, 'hindsight_label_lag_seconds', { ...lag, quantile: '0.99' })).toBeCloseTo(p99!, 6);
    expect(p90).toBeGreaterThan(p50!);
  });

  it('firing alerts by model, rule kind, severity and verdict; the outbox by destination kind and state', () => {
    expect(select(samples, 'hindsight_alerts_firing').map((s) => [s.labels, s.value])).toEqual(
      expect.arrayContaining([
        [{ model: HISTORY.model, rule_kind: 'relative_drop', severity: 'critical', verdict: 'quality' }, 1],
        [{ model: HISTORY.model, rule_kind: 'label_availability', severity: 'warning', verdict: 'undiagnosed' }, 1],
      ]),
    );
    expect(select(samples, 'hindsight_alerts_firing')).toHaveLength(2);
    const outbox = (state: string) => only(samples, 'hindsight_deliveries', { destination_kind: 'webhook', state });
    expect([outbox('delivered'), outbox('pending'), outbox('refused'), outbox('expired')]).toEqual([2, 1, 1, 1]);
  });

  it('no label carries a cohort id, a prediction id or a slice value; promtool check metrics finds nothing', async () => {
    const values = samples.flatMap((s) => Object.values(s.labels));
    const cohortIds = history.cohorts.map((c) => c.cohort_id);
    expect(values.filter((v) => cohortIds.some((id) => v.includes(id)) || /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(v))).toEqual([]);
    expect(values).toContain(HISTORY.model);
    const checked = await promtool(['check', 'metrics'], text);
    expect(checked).toEqual({ code: 0, output: '' });
  });

  it('counts the evaluations this process ran, by result, with their durations', () => {
    // Six P7D and five final evaluations and one revision, all stored.
    expect(only(samples, 'hindsight_evaluations_total', { result: 'stored' })).toBe(HISTORY.weeks + HISTORY.finalized + 1);
    expect(only(samples, 'hindsight_evaluations_total', { result: 'failed' })).toBe(0);
    expect(only(samples, 'hindsight_evaluation_duration_seconds_count')).toBe(HISTORY.weeks + HISTORY.finalized + 1);
    expect(only(samples, 'hindsight_evaluation_duration_seconds_sum')).toBeGreaterThan(0);
  });

  it('counts the records hindsight serve ingests, by kind and result', async () => {
    const record = (id: string, score: unknown) => ({
      prediction_id: id,
      model_name: 'counted',
      model_version: 'v1',
      ts_pred: '2026-01-05T00:00:00Z',
      score,
    });
    const body = JSON.stringify([
      record('00000000-0000-4000-8000-000000000001', 0.4),
      record('00000000-0000-4000-8000-000000000002', 0.6),
      record('00000000-0000-4000-8000-000000000003', 'high'),
    ]);
    const post = () => fetch(`${server.url}/v1/predictions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect((await post()).status).toBe(200);
    expect((await post()).status).toBe(200);
    const after = parseExposition(await scrape());
    const ingested = (result: string) => only(after, 'hindsight_records_ingested_total', { kind: 'predictions', result });
    expect([ingested('accepted'), ingested('duplicate'), ingested('rejected'), ingested('conflict')]).toEqual([2, 2, 2, 0]);
    expect(only(after, 'hindsight_records_ingested_total', { kind: 'outcomes', result: 'accepted' })).toBe(0);
  });
});

describe('GET /metrics on hindsight serve', () => {
  it('asks for the bearer token when serve has one, as POST does, and answers only GET and HEAD', async () => {
    const token = 'metrics-test-token-0123456789';
    const guarded = await startIngestServer({ db: testDb.db, host: '127.0.0.1', port: 0, token, metrics: endpoint });
    try {
      const anonymous = await fetch(`${guarded.url}/metrics`);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toEqual({ error: 'missing bearer token: send Authorization: Bearer <HINDSIGHT_API_TOKEN>' });
      const authorized = await fetch(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(authorized.status).toBe(200);
      expect(select(parseExposition(await authorized.text()), 'hindsight_snapshot_metric').length).toBeGreaterThan(0);
      const posted = await fetch(`${guarded.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(posted.status).toBe(405);
      expect(posted.headers.get('allow')).toBe('GET, HEAD');
    } finally {
      await guarded.close();
    }
  });
});

describe('refresh', () => {
  it('reads the database with one statement at most every 15 s, however often it is scraped', async () => {
    let clock = 1_000_000;
    const reads: string[] = [];
    const onQuery = (query: { sql: string }) => query.sql === METRICS_READ && reads.push(query.sql);
    testDb.db.on('query', onQuery);
    try {
      const timed = createMetricsEndpoint(testDb.db, { now: () => clock });
      const firing = (exposition: string) => select(parseExposition(exposition), 'hindsight_alerts_firing', { severity: 'info' }).length;
      expect(firing(await timed.render())).toBe(0);
      await testDb.db('alerts').insert({
        dedup_key: 'refresh-test',
        policy_name: 'fraud-watch-policy',
        policy_version: 1,
        rule_name: 'psi',
        rule_kind: 'score_psi',
        model_name: HISTORY.model,
        severity: 'info',
        state: 'firing',
        runbook: 'docs/alerts.md',
        fired_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      });
      clock += 14_999;
      expect(firing(await timed.render())).toBe(0);
      clock += 1;
      expect(firing(await timed.render())).toBe(1);
      expect(reads).toHaveLength(2);
    } finally {
      testDb.db.off('query', onQuery);
    }
  });

  it('a read that fails serves the process metrics, counts the failure and names no SQL', async () => {
    const missing = createDatabase(testDb.url.replace(/\/[^/]*$/, '/hindsight_no_such_database'), { maxConnections: 1 });
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const failing = parseExposition(await createMetricsEndpoint(missing).render());
      expect(select(failing, 'hindsight_snapshot_metric')).toEqual([]);
      expect(only(failing, 'hindsight_metrics_refresh_failures_total')).toBeGreaterThanOrEqual(1);
      expect(select(failing, 'hindsight_evaluations_total').length).toBe(3);
    } finally {
      process.stderr.write = write;
      await missing.destroy();
    }
    expect(lines.join('')).toMatch(
      /^metrics: could not read the database \(.*hindsight_no_such_database.*\); serving the previous values\n$/,
    );
    expect(lines.join('')).not.toMatch(/select|jsonb/i);
  });
});

describe('ad hoc snapshots', () => {
  it('an ad hoc snapshot (cohort evaluate-now) is a series of its own, checkpoint="adhoc"', async () => {
    const cohort = history.cohorts[HISTORY.weeks - 1]!;
    const asOf = new Date(Date.parse(cohort.end) + 2 * 86_400_000).toISOString();
    await new MockActivityEnvironment().run(createLifecycleActivities(testDb.db).evaluateCheckpoint, {
      cohortId: cohort.cohort_id,
      checkpoint: 'adhoc',
      asOf,
      revision: 1,
    });
    const fresh = parseExposition(await createMetricsEndpoint(testDb.db).render());
    expect(only(fresh, 'hindsight_snapshot_as_of_timestamp_seconds', { ...SERIES, checkpoint: 'adhoc' })).toBe(Date.parse(asOf) / 1000);
    expect(only(fresh, 'hindsight_snapshot_metric', { ...SERIES, checkpoint: 'adhoc', metric: 'roc_auc' })).toBe(
      (await storedOverall(cohort.cohort_id, 'adhoc')).roc_auc,
    );
  });
});
