import type { ActivityInterceptors } from '@temporalio/worker';
import { isQueryError, stripSqlText } from '../sql/failure-message';

/**
 * Takes the SQL text knex puts in front of a database error's message out of the error and its
 * causes (the message and the first line of the stack, which repeats it), in place.
 */
export function stripSqlFromError(error: unknown): void {
  const seen = new Set<unknown>();
  for (let current = error; current instanceof Error && !seen.has(current); current = current.cause) {
    seen.add(current);
    if (!isQueryError(current)) continue;
    const stripped = stripSqlText(current.message);
    if (stripped === current.message) continue;
    const { message, stack } = current;
    try {
      current.message = stripped;
      if (stack) current.stack = stack.replace(message, stripped);
    } catch {
      // A frozen error keeps its words; nothing of ours makes one.
    }
  }
}

/**
 * The worker's activity interceptor: an activity that fails on a database error fails with the
 * database's words only, so no statement reaches the workflow's history, the Web UI, the
 * worker's log or a command that prints the failure.
 */
export function sqlFreeActivityFailures(): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (error) {
          stripSqlFromError(error);
          throw error;
        }
      },
    },
  };
}
