import { ApplicationFailure } from '@temporalio/common';

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs an activity's work; an error of one of the `permanent` kinds (no retry can fix it)
 * becomes a non-retryable failure that keeps its name and message, anything else is retried.
 */
export async function failPermanently<T>(permanent: readonly ErrorClass[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (permanent.some((kind) => error instanceof kind)) {
      const known = error as Error;
      throw ApplicationFailure.create({ type: known.name, message: known.message, nonRetryable: true, cause: known });
    }
    throw error;
  }
}
