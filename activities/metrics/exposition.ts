/**
 * `GET /metrics` in the Prometheus text format (docs/dashboards.md): what the database says
 * of the latest snapshots, alerts and deliveries, read by one statement (sql/metrics.ts) at
 * most every 15 s, and what this process has counted (./process-counters). No label carries a
 * cohort id, a prediction id or a slice value, so the series stay few however much is stored.
 */
import type { Knex } from 'knex';
import * as prom from 'prom-client';
import { describeFailure } from '../../sql/failure-message';
import { HEADLINE_METRICS, METRICS_READ, type MetricsReadRow } from '../../sql/metrics';
import { enableProcessCounters } from './process-counters';

/** Prometheus scrapes every 15 to 60 s; reading more often than this would only load the database. */
export const DEFAULT_REFRESH_MS = 15_000;

export interface MetricsEndpoint {
  contentType: string;
  /** The exposition text: the database's gauges (refreshed when older than the refresh period) and the process's own. */
  render(): Promise<string>;
}

export interface MetricsEndpointOptions {
  refreshMs?: number;
  /** The clock, in milliseconds (tests move it). */
  now?: () => number;
}

const SERIES_LABELS = ['model', 'version', 'environment', 'label_definition', 'checkpoint'] as const;
const HEADLINES: readonly string[] = [...new Set([...HEADLINE_METRICS.binary, ...HEADLINE_METRICS.regression])];

let processRegistry: prom.Registry | undefined;

/** The process's own metrics (the counters, Node's process and runtime gauges), one registry per process. */
function processMetrics(): prom.Registry {
  if (processRegistry) return processRegistry;
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  // Node's gauges of active handles end in _total, which Prometheus keeps for counters (promtool says so): left out.
  for (const metric of registry.getMetricsAsArray())
    if (metric.name.endsWith('_total') && (metric as unknown as { type: string }).type !== 'counter')
      registry.removeSingleMetric(metric.name);
  enableProcessCounters(prom, registry);
  const failures = new prom.Counter({
    name: 'hindsight_metrics_refresh_failures_total',
    help: 'Reads of the database for /metrics that failed (the previous values are served meanwhile).',
    registers: [registry],
  });
  failures.inc(0);
  processRegistry = registry;
  return registry;
}

/** Counts a failed refresh in the process registry. */
function countRefreshFailure(): void {
  (processMetrics().getSingleMetric('hindsight_metrics_refresh_failures_total') as prom.Counter | undefined)?.inc();
}

/** The gauges of one read of the database, in a registry of their own. */
export function databaseGauges(read: MetricsReadRow): prom.Registry {
  const registry = new prom.Registry();
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new prom.Gauge<L>({ name, help, labelNames, registers });
  const snapshot = gauge(
    'hindsight_snapshot_metric',
    'A headline metric of the latest revision of the most recent cohort with a snapshot at the checkpoint.',
    [...SERIES_LABELS, 'metric'],
  );
  const availability = gauge(
    'hindsight_label_availability_ratio',
    'Share of the cohort whose label is final (n_final / n) in that snapshot.',
    SERIES_LABELS,
  );
  const expected = gauge(
    'hindsight_label_availability_expected_ratio',
    'Mean label availability of the four cohorts before it at the same checkpoint (the expected curve).',
    SERIES_LABELS,
  );
  const asOf = gauge('hindsight_snapshot_as_of_timestamp_seconds', 'The as-of of that snapshot, in Unix seconds.', SERIES_LABELS);
  const cohortLength = gauge(
    'hindsight_cohort_duration_seconds',
    "Length of that snapshot's cohort (end - start): the period between a scheduled model's cohorts.",
    SERIES_LABELS,
  );
  const firing = gauge('hindsight_alerts_firing', 'Alerts firing now.', ['model', 'rule_kind', 'severity', 'verdict']);
  const deliveries = gauge('hindsight_deliveries', 'Alert notifications in the outbox, by destination kind and state.', [
    'destination_kind',
    'state',
  ]);
  for (const row of read.series) {
    const labels = {
      model: row.model_name,
      version: row.model_version,
      environment: row.environment,
      label_definition: row.label_definition_name,
      checkpoint: row.checkpoint,
    };
    for (const metric of HEADLINES) {
      const value = row.headline[metric];
      if (typeof value === 'number') snapshot.set({ ...labels, metric }, value);
    }
    if (row.label_availability !== null) availability.set(labels, row.label_availability);
    if (row.expected_availability !== null) expected.set(labels, row.expected_availability);
    asOf.set(labels, row.as_of_seconds);
    cohortLength.set(labels, row.cohort_seconds);
  }
  for (const row of read.alerts)
    firing.set({ model: row.model_name, rule_kind: row.rule_kind, severity: row.severity, verdict: row.verdict }, row.firing);
  for (const row of read.deliveries) deliveries.set({ destination_kind: row.destination_kind, state: row.state }, row.notifications);
  registry.registerMetric(labelLagSummary(read) as unknown as prom.Metric);
  return registry;
}

const LAG_QUANTILES = [
  ['p50', '0.5'],
  ['p90', '0.9'],
  ['p99', '0.99'],
] as const;

/**
 * The label lag quantiles of the most recent cohort (per model and definition) whose final
 * snapshot carries them. A summary by type, so the `quantile` label is in its place; it has no
 * `_sum` or `_count`, since its quantiles are a cohort's, not this process's observations.
 */
function labelLagSummary(read: MetricsReadRow) {
  const name = 'hindsight_label_lag_seconds';
  const help = 'Seconds from a prediction to the receipt of its label, in the most recent finalized cohort.';
  const values = read.lag.flatMap((row) =>
    LAG_QUANTILES.filter(([key]) => typeof row.label_lag[key] === 'number').map(([key, quantile]) => ({
      labels: { model: row.model_name, label_definition: row.label_definition_name, quantile },
      value: row.label_lag[key]!,
    })),
  );
  return {
    name,
    help,
    type: 'summary',
    aggregator: 'omit',
    get: async () => ({ name, help, type: 'summary', aggregator: 'omit', values }),
  };
}

/** Reads the database once (sql/metrics.ts). */
export async function readMetrics(db: Knex): Promise<MetricsReadRow> {
  return (await db.raw(METRICS_READ)).rows[0] as MetricsReadRow;
}

/**
 * A `/metrics` endpoint over `db`. Scrapes within the refresh period share one read; a read
 * that fails leaves the previous gauges in place and counts the failure (its cause goes to
 * standard error, named by SQLSTATE, never by its SQL).
 */
export function createMetricsEndpoint(db: Knex, options: MetricsEndpointOptions = {}): MetricsEndpoint {
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const now = options.now ?? Date.now;
  const own = processMetrics();
  let gauges: prom.Registry | undefined;
  let readAt = -Infinity;
  let reading: Promise<void> | undefined;
  const refresh = async (): Promise<void> => {
    try {
      gauges = databaseGauges(await readMetrics(db));
    } catch (error) {
      countRefreshFailure();
      process.stderr.write(`metrics: could not read the database (${describeFailure(error)}); serving the previous values\n`);
    } finally {
      readAt = now();
      reading = undefined;
    }
  };
  return {
    contentType: own.contentType,
    async render() {
      if (now() - readAt >= refreshMs) await (reading ??= refresh());
      const parts = [await own.metrics()];
      if (gauges) parts.unshift(await gauges.metrics());
      return parts.join('\n');
    },
  };
}
