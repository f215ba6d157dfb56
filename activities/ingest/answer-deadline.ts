import type { IncomingMessage, ServerResponse } from 'node:http';

/** Work a server owes an answer for, awaited on close so the database outlives it. */
export type PendingWork = Set<Promise<unknown>>;

/**
 * Waits for the server's own work on a request that has arrived, at most `answerMs`: the
 * work's value, or `late` (the work goes on, kept in `pending`, and `onLateFailure` hears if
 * it fails). The time is now the server's, so the socket's idle timeout is off until the
 * answer has been written: a slow database never cuts the answer the client is owed.
 */
export async function awaitWithinDeadline<T>(
  request: IncomingMessage,
  response: ServerResponse,
  work: Promise<T>,
  timeouts: { idleMs: number; answerMs: number },
  pending: PendingWork,
  onLateFailure: (error: unknown) => void,
): Promise<{ value: T } | 'late'> {
  request.socket.setTimeout(0);
  response.once('finish', () => request.socket.setTimeout(timeouts.idleMs));
  pending.add(work);
  const settled = work.finally(() => pending.delete(work));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeouts.answerMs);
  });
  try {
    const outcome = await Promise.race([settled.then((value) => ({ value })), late]);
    if (outcome === 'late') settled.catch(onLateFailure);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}
