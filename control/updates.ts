import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ControlRequestError } from './errors';

/** How long a decision waits for a worker to take it before the command says none is polling. */
export const UPDATE_WAIT_MS = 20_000;

/**
 * Sends an update and waits for its result. A refusal by the workflow's validator (the decision
 * came second, nothing waits for it) is a {@link ControlRequestError} in the workflow's own
 * words; no worker taking it within {@link UPDATE_WAIT_MS} says so, and nothing was applied.
 */
export async function decide<Ret, Args extends [unknown, ...unknown[]]>(
  client: Client,
  handle: WorkflowHandle,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  taskQueue: string,
): Promise<Ret> {
  try {
    return await client.withDeadline(Date.now() + UPDATE_WAIT_MS, () => handle.executeUpdate(update, { args }));
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      throw new ControlRequestError(`refused: ${error.cause?.message ?? error.message}`);
    }
    const code = (error as { code?: unknown }).code;
    const name = (error as Error).name;
    if (code === 4 || name === 'WorkflowUpdateRPCTimeoutOrCancelledError' || /deadline/i.test((error as Error).message)) {
      throw new ControlRequestError(
        `no worker took the decision within ${UPDATE_WAIT_MS / 1000} s: is a worker polling task queue ${taskQueue}? ` +
          'Nothing was applied; start one (hindsight worker) and run this again',
      );
    }
    throw error;
  }
}
