/**
 * The TypeScript logger for model services: `log()` returns at once with the prediction's
 * id, and batches go to `hindsight serve` (POST /v1/predictions) in the background, flushed
 * when a batch is full, on an interval, and on shutdown. The request path never waits on
 * Hindsight or its database; if Hindsight is down, batches are retried and, past a bounded
 * queue, dropped and counted rather than growing the service's memory.
 *
 * Self-contained on purpose (node:crypto and global fetch only), so a service can depend on
 * it without the rest of Hindsight.
 */
import { randomUUID } from 'node:crypto';

/** A prediction as a model service logs it; see docs/ingestion.md for every field. */
export interface PredictionInput {
  prediction_id?: string;
  model_name: string;
  model_version: string;
  /** ISO-8601 with an offset; filled with the time of `log()` when absent. */
  ts_pred?: string;
  score: number;
  entity_ids?: Record<string, string | number>;
  feature_view_version?: string | null;
  input_schema_hash?: string | null;
  schema_version?: number;
  threshold?: number | null;
  decision?: string | number | boolean | null;
  action?: string | null;
  policy?: string | null;
  propensity?: number | null;
  is_exploration?: boolean | null;
  request_id?: string | null;
  session_id?: string | null;
  position?: number | null;
  item_id?: string | null;
  environment?: string | null;
  region?: string | null;
  segment?: Record<string, string | number | boolean>;
  features?: Record<string, unknown> | null;
  [extra: string]: unknown;
}

/** The result document `hindsight serve` answers with. */
export interface IngestResponse {
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: Array<{ line: number; field: string | null; error: string }>;
}

export interface PredictionLoggerOptions {
  /** Base URL of `hindsight serve`, e.g. http://hindsight:8787. */
  url: string;
  /** HINDSIGHT_API_TOKEN of the server, when it requires one. */
  token?: string;
  /** Records per request; a full batch is sent at once. Default 500. */
  batchSize?: number;
  /** The longest a logged record waits before it is sent. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Records held while Hindsight is unreachable; beyond it the oldest are dropped. Default 100,000. */
  maxQueueSize?: number;
  /** Attempts per batch on network errors and 5xx, with backoff. Default 3. */
  maxAttempts?: number;
  /** Per-request timeout. Default 10 s. */
  requestTimeoutMs?: number;
  /** Told about failed batches and rejected records; the default writes one line to stderr. */
  onError?: (error: Error, records: PredictionInput[]) => void;
  /** Flush on the process's `beforeExit`, so a script that just ends loses nothing. Default true. */
  flushOnExit?: boolean;
  fetch?: typeof fetch;
}

export interface PredictionLoggerStats {
  logged: number;
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  dropped: number;
  queued: number;
}

export interface PredictionLogger {
  /** Queues a prediction and returns its prediction_id (generated when absent). Never throws on transport. */
  log(prediction: PredictionInput): string;
  /** Sends everything queued so far; resolves when it was answered or given up. */
  flush(): Promise<void>;
  /** Stops the timer and flushes what is left. Call it from the service's shutdown hook. */
  shutdown(): Promise<void>;
  stats(): PredictionLoggerStats;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createPredictionLogger(options: PredictionLoggerOptions): PredictionLogger {
  const endpoint = `${options.url.replace(/\/+$/, '')}/v1/predictions`;
  const batchSize = options.batchSize ?? 500;
  const maxQueueSize = options.maxQueueSize ?? 100_000;
  const maxAttempts = options.maxAttempts ?? 3;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const doFetch = options.fetch ?? fetch;
  const onError =
    options.onError ??
    ((error: Error, records: PredictionInput[]) =>
      process.stderr.write(`hindsight logger: ${error.message} (${records.length} records)\n`));
  const stats: PredictionLoggerStats = { logged: 0, sent: 0, accepted: 0, duplicates: 0, rejected: 0, dropped: 0, queued: 0 };
  let queue: PredictionInput[] = [];
  let sending: Promise<void> = Promise.resolve();
  let stopped = false;

  async function post(batch: PredictionInput[]): Promise<void> {
    const body = batch.map((record) => JSON.stringify(record)).join('\n');
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    for (let attempt = 1; ; attempt += 1) {
      let retryable = true;
      try {
        const response = await doFetch(endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(requestTimeoutMs) });
        const document = (await response.json().catch(() => ({}))) as Partial<IngestResponse> & { error?: string };
        if (response.ok) {
          stats.sent += batch.length;
          stats.accepted += document.accepted ?? 0;
          stats.duplicates += document.duplicates ?? 0;
          const rejected = document.rejected ?? [];
          stats.rejected += rejected.length;
          if (rejected.length > 0) {
            const lines = rejected
              .slice(0, 5)
              .map((r) => `#${r.line} ${r.error}`)
              .join('; ');
            onError(
              new Error(`hindsight rejected ${rejected.length} records: ${lines}`),
              rejected.map((r) => batch[r.line - 1]!).filter(Boolean),
            );
          }
          return;
        }
        // 4xx other than 408/429 will not get better by retrying the same batch.
        retryable = response.status >= 500 || response.status === 408 || response.status === 429;
        throw new Error(`hindsight answered ${response.status}: ${document.error ?? response.statusText}`);
      } catch (error) {
        if (!retryable || attempt >= maxAttempts) {
          stats.dropped += batch.length;
          onError(error as Error, batch);
          return;
        }
        await sleep(Math.min(200 * 2 ** (attempt - 1), 5_000));
      }
    }
  }

  /** Batches go out one after another, so records arrive in the order they were logged. */
  function sendQueued(): Promise<void> {
    sending = sending
      .then(async () => {
        while (queue.length > 0) {
          const batch = queue.slice(0, batchSize);
          queue = queue.slice(batch.length);
          stats.queued = queue.length;
          await post(batch);
        }
      })
      .catch((error: unknown) => {
        // Only a throwing onError gets here; the chain must stay usable for the next batch.
        process.stderr.write(`hindsight logger: ${(error as Error).message}\n`);
      });
    return sending;
  }

  const timer = setInterval(() => {
    if (queue.length > 0) void sendQueued();
  }, options.flushIntervalMs ?? 1_000);
  // The logger must never be what keeps a finished process alive.
  timer.unref();
  const flushBeforeExit = () => {
    if (queue.length > 0) void sendQueued();
  };
  if (options.flushOnExit !== false) process.on('beforeExit', flushBeforeExit);

  return {
    log(prediction) {
      const record: PredictionInput = {
        ...prediction,
        prediction_id: prediction.prediction_id ?? randomUUID(),
        ts_pred: prediction.ts_pred ?? new Date().toISOString(),
      };
      stats.logged += 1;
      if (stopped) {
        stats.dropped += 1;
        onError(new Error('logger is shut down; prediction not sent'), [record]);
        return record.prediction_id!;
      }
      queue.push(record);
      if (queue.length > maxQueueSize) {
        const overflow = queue.splice(0, queue.length - maxQueueSize);
        stats.dropped += overflow.length;
        onError(new Error(`queue over ${maxQueueSize} records; dropped the oldest ${overflow.length}`), overflow);
      }
      stats.queued = queue.length;
      if (queue.length >= batchSize) void sendQueued();
      return record.prediction_id!;
    },
    flush: () => sendQueued(),
    async shutdown() {
      stopped = true;
      clearInterval(timer);
      process.off('beforeExit', flushBeforeExit);
      await sendQueued();
    },
    stats: () => ({ ...stats }),
  };
}
