/**
 * What bench:lifecycle measures beside the wall clock: the worker's peak RSS, and from the
 * recorded histories the task queue and run latencies and each worker's share of evaluations.
 */
import type { temporal } from '@temporalio/proto';

/** Runs `work` over `items` with at most `limit` in flight, in order of the items. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Peak resident set of this process (worker, client and bench), sampled every 200 ms. */
export function sampleRss(): { peakMb(): number; stop(): void } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 200);
  return { peakMb: () => peak / 2 ** 20, stop: () => clearInterval(timer) };
}

export type History = temporal.api.history.v1.IHistory;

export const EventType = {
  WFT_SCHEDULED: 5,
  WFT_STARTED: 6,
  ACTIVITY_SCHEDULED: 10,
  ACTIVITY_STARTED: 11,
  ACTIVITY_COMPLETED: 12,
} as const;

export function eventMs(event: temporal.api.history.v1.IHistoryEvent): number {
  const time = event.eventTime!;
  return Number(time.seconds ?? 0) * 1000 + Math.round((time.nanos ?? 0) / 1e6);
}

/**
 * Where a lifecycle's time went beyond its timers: how long workflow and activity tasks
 * waited on their queues (worker slots) and how long the activities ran (the database).
 */
export function taskLatencies(histories: History[]): Record<string, { median: number; max: number }> {
  const waits: Record<string, number[]> = { workflow_task_queue_ms: [], activity_queue_ms: [], activity_run_ms: [] };
  for (const history of histories) {
    const byId = new Map((history.events ?? []).map((e) => [Number(e.eventId), e]));
    for (const event of history.events ?? []) {
      if (event.eventType === EventType.WFT_STARTED) {
        waits.workflow_task_queue_ms!.push(
          eventMs(event) - eventMs(byId.get(Number(event.workflowTaskStartedEventAttributes!.scheduledEventId))!),
        );
      } else if (event.eventType === EventType.ACTIVITY_STARTED) {
        waits.activity_queue_ms!.push(
          eventMs(event) - eventMs(byId.get(Number(event.activityTaskStartedEventAttributes!.scheduledEventId))!),
        );
      } else if (event.eventType === EventType.ACTIVITY_COMPLETED) {
        waits.activity_run_ms!.push(
          eventMs(event) - eventMs(byId.get(Number(event.activityTaskCompletedEventAttributes!.startedEventId))!),
        );
      }
    }
  }
  return Object.fromEntries(Object.entries(waits).map(([key, values]) => [key, { median: median(values), max: Math.max(...values) }]));
}

/** Evaluation activities per worker identity, over the given histories. */
export function evaluationsByWorker(histories: History[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const history of histories) {
    const events = history.events ?? [];
    const byId = new Map(events.map((e) => [Number(e.eventId), e]));
    for (const event of events) {
      if (event.eventType !== EventType.ACTIVITY_STARTED) continue;
      const scheduled = byId.get(Number(event.activityTaskStartedEventAttributes!.scheduledEventId))!;
      const type = scheduled.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
      if (type !== 'evaluateCheckpoint' && type !== 'reviseFinalSnapshot') continue;
      const identity = event.activityTaskStartedEventAttributes!.identity ?? '?';
      counts[identity] = (counts[identity] ?? 0) + 1;
    }
  }
  return counts;
}
