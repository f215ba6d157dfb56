import { heartbeat } from '@temporalio/activity';

/** Keeps a long SQL statement visible to Temporal so a dead worker is noticed by heartbeat timeout. */
export async function withHeartbeat<T>(work: () => Promise<T>, everyMs = 2_000): Promise<T> {
  const timer = setInterval(() => heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
