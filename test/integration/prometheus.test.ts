import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../support/database';
import { HISTORY, seedMonitoringHistory, type SeededHistory } from '../support/monitoring-history';
import { only, parseExposition, promtool, select } from '../support/prometheus-text';
import { runHindsightInProcess } from '../support/run-cli';
import { waitFor } from '../support/temporal';

// A real Prometheus (Debian's `prometheus`) scraping `hindsight serve`, the rules under
// promtool, and the metrics ports of `hindsight worker` and `hindsight dev`: each the compiled
// command line (npm test compiles first), run as a user would.

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'hindsight.js');
const testDb = useTestDatabase();

interface Running {
  child: ChildProcess;
  stderr: () => string;
  match: RegExpExecArray;
}

/** Starts a process and resolves once its standard error matches `ready`. */
function startUntil(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Running> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(command)} not ready after 30 s: ${stderr}`)), 30_000);
    child.stderr!.on('data', (chunk) => {
      stderr += String(chunk);
      const match = ready.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve({ child, stderr: () => stderr, match });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(args[0] ?? command)} exited with ${code}: ${stderr}`));
    });
  });
}

async function stop(running: Running | undefined): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGKILL');
  await exited;
}

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

const hindsightEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: testDb.url, HINDSIGHT_LOG_LEVEL: 'ERROR', ...extra };
  delete env.HINDSIGHT_API_TOKEN;
  return env;
};

let history: SeededHistory;
let scratch: string;
const started: Running[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'hindsight-prometheus-'));
  history = await seedMonitoringHistory(testDb.db);
}, 120_000);
afterAll(async () => {
  for (const running of started) await stop(running);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('Prometheus scraping hindsight serve', () => {
  it('sees hindsight_snapshot_metric{metric="roc_auc",checkpoint="final"} equal to the stored snapshot', async () => {
    const serve = await startUntil(
      process.execPath,
      [BIN, 'serve', '--port', '0'],
      hindsightEnv(),
      /listening on (http:\/\/\S+) .*metrics at (\S+)\n/,
    );
    started.push(serve);
    const target = new URL(serve.match[2]!);
    const port = await freePort();
    const config = path.join(scratch, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: hindsight',
        `    metrics_path: ${target.pathname}`,
        '    static_configs:',
        `      - targets: ['${target.host}']`,
        '',
      ].join('\n'),
    );
    const prometheus = await startUntil(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${path.join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      process.env,
      /Server is ready to receive web requests/,
    );
    started.push(prometheus);
    const query = 'hindsight_snapshot_metric{metric="roc_auc",checkpoint="final"}';
    // Waits for the first scrape to land: the series appears in the query API.
    const result = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`);
        const body = (await response.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
        return body.data.result.length > 0 ? body.data.result : undefined;
      },
      30_000,
      'the first scrape',
    );
    const stored = await testDb
      .db('metric_snapshots')
      .where({ cohort_id: history.cohorts[HISTORY.finalized - 1]!.cohort_id, checkpoint: 'final' })
      .orderBy('revision', 'desc')
      .first('document');
    expect(result).toHaveLength(1);
    expect(result[0]!.metric).toMatchObject({
      job: 'hindsight',
      model: HISTORY.model,
      version: HISTORY.version,
      environment: HISTORY.environment,
      label_definition: HISTORY.definition,
    });
    expect(Number(result[0]!.value[1])).toBe(stored.document.overall.roc_auc);
    await stop(prometheus);
    await stop(serve);
  });
});

describe('the alerting rules', () => {
  it('pass their promtool unit tests (deploy/prometheus/hindsight-rules.test.yml)', async () => {
    const result = await promtool(['test', 'rules', path.join(ROOT, 'deploy', 'prometheus', 'hindsight-rules.test.yml')]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });
});

describe('the metrics ports of the worker and dev', () => {
  it('hindsight worker --metrics-port 0 prints both ports: /metrics from the database and the Temporal SDK worker metrics in seconds', async () => {
    const worker = await startUntil(
      process.execPath,
      [BIN, 'worker', '--metrics-port', '0', '--metrics-host', '127.0.0.1'],
      hindsightEnv({ TEMPORAL_ADDRESS: inject('temporalAddress'), HINDSIGHT_TASK_QUEUE: 'metrics-test' }),
      /metrics {3}(http:\S+), Temporal SDK worker metrics at (http:\S+)\n/,
    );
    started.push(worker);
    const own = parseExposition(await (await fetch(worker.match[1]!)).text());
    expect(only(own, 'hindsight_snapshot_metric', { checkpoint: 'final', metric: 'roc_auc' })).toBeGreaterThan(0.5);
    expect(select(own, 'hindsight_evaluations_total')).toHaveLength(3);
    // The SDK's own exporter: its client's first request is timed, in seconds.
    const sdk = await waitFor(
      async () => {
        const text = await (await fetch(worker.match[2]!)).text();
        return text.includes('temporal_request_latency_seconds_bucket') ? parseExposition(text) : undefined;
      },
      15_000,
      'the SDK metrics',
    );
    expect(select(sdk, 'temporal_request_latency_seconds_count', { operation: 'GetSystemInfo' }).length).toBeGreaterThan(0);
    await stop(worker);
  });

  it('hindsight dev prints its metrics port at start and serves it; a port in use is a usage error', async () => {
    const env = hindsightEnv({ TEMPORAL_ADDRESS: inject('temporalAddress'), HINDSIGHT_STATE_DIR: path.join(scratch, 'state') });
    const dev = await startUntil(process.execPath, [BIN, 'dev', '--metrics-port', '0'], env, /metrics {3}(http:\S+),/);
    started.push(dev);
    const response = await fetch(dev.match[1]!);
    expect(response.status).toBe(200);
    expect(select(parseExposition(await response.text()), 'hindsight_label_availability_ratio', { model: HISTORY.model })).toHaveLength(2);
    const busy = Number(new URL(dev.match[1]!).port);
    await stop(dev);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(busy, '127.0.0.1', resolve));
    try {
      // In this process: the port is refused before the SDK's runtime would be installed.
      const refused = await runHindsightInProcess(['worker', '--metrics-port', String(busy)], {
        DATABASE_URL: testDb.url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
      });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`hindsight: cannot serve metrics on 127.0.0.1:${busy} (EADDRINUSE); choose another --metrics-port\n`);
    } finally {
      blocker.close();
    }
  });

  it('refuses a metrics port that is not a number, exit 2', async () => {
    const refused = await runHindsightInProcess(['worker', '--metrics-port', 'nine'], { DATABASE_URL: testDb.url });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('hindsight: worker: invalid options\n  --metrics-port: must be a port number (0 picks a free one)\n');
  });
});
