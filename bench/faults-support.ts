/**
 * The pieces bench:faults needs beside bench:lifecycle's: the rows of one small cohort, a
 * webhook receiver that fails a seeded share of notifications, `hindsight worker` child
 * processes (so they can be SIGKILLed) and percentiles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Knex } from 'knex';
import { ingestRecords } from '../activities/ingest/ingest-records';
import type { History } from './lifecycle-measures';

export const log = (line: string): void => void process.stderr.write(`${line}\n`);
export const seconds = (ms: number): number => Number((ms / 1000).toFixed(2));
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** What the faulty receiver does with a key: fail its first 1–2 attempts with 500, refuse it with 404, or take it. */
export type AnswerClass = { kind: '500'; failures: 1 | 2 } | { kind: '404' } | { kind: '200' };

/** Seeded by the key alone, so a key always gets the same first answer: 20% 500, 5% 404, the rest 200. */
export function answerClass(key: string): AnswerClass {
  const hash = createHash('sha256').update(key).digest();
  const u = hash.readUInt32BE(0) / 2 ** 32;
  if (u < 0.2) return { kind: '500', failures: hash[4]! & 1 ? 2 : 1 };
  if (u < 0.25) return { kind: '404' };
  return { kind: '200' };
}

export interface ReceiverCall {
  path: string;
  key: string;
  status: number;
  at: number;
}

export interface Receiver {
  url: string;
  calls: ReceiverCall[];
  close(): Promise<void>;
}

/**
 * A webhook receiver on a loopback port: under /faulty it answers by {@link answerClass} (a
 * 500-class key succeeds from its 2nd or 3rd attempt on), anywhere else always 200. It records
 * every request: path, idempotency key, what it answered and when.
 */
export async function startReceiver(): Promise<Receiver> {
  const calls: ReceiverCall[] = [];
  const attempts = new Map<string, number>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      const key = String(request.headers['idempotency-key'] ?? '');
      const where = request.url ?? '';
      let status = 200;
      if (where === '/faulty') {
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        const answer = answerClass(key);
        status = answer.kind === '404' ? 404 : answer.kind === '500' && attempt <= answer.failures ? 500 : 200;
      }
      calls.push({ path: where, key, status, at: Date.now() });
      response.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** The end of what it wrote to stderr, for a failure message. */
  tail(): string;
}

/**
 * `hindsight worker` in its own process (so it can be killed the way a host dies), resolved
 * once it polls; rejected if it exits first or does not poll within `timeoutMs`.
 */
export async function spawnWorker(env: Record<string, string>, timeoutMs = 120_000): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'hindsight.js'), 'worker'], {
    env: { ...process.env, HINDSIGHT_LOG_LEVEL: 'ERROR', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const tail = () => stderr.slice(-2_000);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hindsight worker did not poll within ${timeoutMs / 1000} s: ${tail()}`));
    }, timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-20_000);
      if (stderr.includes('worker polling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`hindsight worker exited (${code ?? signal}) before polling: ${tail()}`));
    });
  });
  return { child, tail };
}

/** Nearest-rank percentile (0 for no values). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (value: number, places = 2): number => Number(value.toFixed(places));

const EVENT = {
  WFT_TIMED_OUT: 8,
  WFT_FAILED: 9,
  ACTIVITY_STARTED: 11,
  ACTIVITY_FAILED: 13,
  ACTIVITY_TIMED_OUT: 14,
  TIMER_STARTED: 17,
  TIMER_FIRED: 18,
} as const;

/** What a fault left in one lifecycle's history; all zero when none touched it. */
export interface FaultMarks {
  /** Workflow tasks that timed out or failed: a dead worker's sticky queue, or a task cut off. */
  workflowTasks: number;
  /** Activity attempts that timed out or failed, and retried ones. */
  activities: number;
  /** Timers that fired over a second late: the server was down when they were due. */
  lateTimers: number;
}

const ms = (time: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(time?.seconds ?? 0) * 1000 + Math.round((time?.nanos ?? 0) / 1e6);

/** The marks faults leave in a history: timed-out or failed tasks, retried activities, late timers. */
export function faultMarks(history: History): FaultMarks {
  const marks: FaultMarks = { workflowTasks: 0, activities: 0, lateTimers: 0 };
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  for (const event of events) {
    const type = event.eventType as number;
    if (type === EVENT.WFT_TIMED_OUT || type === EVENT.WFT_FAILED) marks.workflowTasks++;
    else if (type === EVENT.ACTIVITY_TIMED_OUT || type === EVENT.ACTIVITY_FAILED) marks.activities++;
    else if (type === EVENT.ACTIVITY_STARTED && (event.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) marks.activities++;
    else if (type === EVENT.TIMER_FIRED) {
      const started = byId.get(Number(event.timerFiredEventAttributes?.startedEventId));
      if (started?.eventType !== EVENT.TIMER_STARTED) continue;
      const due = ms(started.eventTime) + ms(started.timerStartedEventAttributes?.startToFireTimeout);
      if (ms(event.eventTime) - due > 1_000) marks.lateTimers++;
    }
  }
  return marks;
}

/** The fault marks of many lifecycles, added up. */
export function sumMarks(marks: Array<{ workflowTasks: number; activities: number; lateTimers: number }>) {
  return marks.reduce(
    (sum, m) => ({
      workflowTasks: sum.workflowTasks + m.workflowTasks,
      activities: sum.activities + m.activities,
      lateTimers: sum.lateTimers + m.lateTimers,
    }),
    { workflowTasks: 0, activities: 0, lateTimers: 0 },
  );
}
