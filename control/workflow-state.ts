import type { WorkflowHandle } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';

/**
 * A Hindsight workflow's state as its query gives it: a completed workflow's is its result, so
 * no worker needs to be running to read it; a running one answers the query.
 */
export async function workflowState<T>(handle: WorkflowHandle, statusName: string, query: QueryDefinition<T>): Promise<T> {
  return statusName === 'COMPLETED' ? ((await handle.result()) as T) : handle.query(query);
}
