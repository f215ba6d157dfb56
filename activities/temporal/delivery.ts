/**
 * Alert delivery given to the worker: one attempt at a destination's oldest pending
 * notification (its delivery workflow loops over this), and the waking of those workflows that
 * the judgement and the feed check do once they queued notifications. Neither waits on a
 * receiver longer than one attempt's timeout.
 */
import { activityInfo, getClient } from '@temporalio/activity';
import type { Knex } from 'knex';
import { deliveriesQueuedSignal, deliveryWorkflowId, type DeliveryStep } from '../../contracts/delivery';
import { ALERT_DELIVERY_WORKFLOW, type AlertDeliveryWorkflow } from '../../contracts/workflow-names';
import { deliverNext } from '../delivery/outbox';

export function createDeliveryActivities(db: Knex) {
  return {
    async deliverNextNotification(input: { destination: string }): Promise<DeliveryStep> {
      return deliverNext(db, input.destination);
    },
  };
}

/**
 * Wakes (or starts) the delivery workflow of each destination, from inside an activity: the
 * judgement that queued the notifications does it, so a cohort's lifecycle schedules nothing
 * for delivery and never waits on it.
 */
export async function wakeDeliveries(destinations: readonly string[]): Promise<string[]> {
  const client = getClient();
  const workflowIds: string[] = [];
  for (const destination of destinations) {
    const workflowId = deliveryWorkflowId(destination);
    await client.workflow.signalWithStart<AlertDeliveryWorkflow, []>(ALERT_DELIVERY_WORKFLOW, {
      workflowId,
      taskQueue: activityInfo().taskQueue,
      args: [{ destination }],
      signal: deliveriesQueuedSignal,
      signalArgs: [],
      staticSummary: `deliver alert notifications to ${destination}`,
    });
    workflowIds.push(workflowId);
  }
  return workflowIds;
}
