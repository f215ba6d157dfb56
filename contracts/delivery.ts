/**
 * The alert delivery workflow's boundary: one workflow per destination (a webhook URL, by
 * its hash), signalled with-start by whoever queues a notification for it.
 */
import { defineSignal } from '@temporalio/workflow';

export interface AlertDeliveryInput {
  /** `webhook/<md5 of the URL>`: the URL itself may hold a secret, so it stays out of ids. */
  destination: string;
}

/** New notifications wait in the outbox for this destination. */
export const deliveriesQueuedSignal = defineSignal('deliveriesQueued');

/**
 * Workflows started before this patch deliver their notifications themselves (and wait on the
 * receiver); every new one queues them for the delivery workflows instead.
 */
export const DELIVERY_PATCH = 'delivery-workflow';

export const deliveryWorkflowId = (destination: string): string => `delivery/${destination}`;

/** One step of a destination's delivery: what became of its oldest pending notification. */
export interface DeliveryStep {
  /** `empty`: nothing pending; `retry`: the attempt failed and the notification stays pending. */
  outcome: 'delivered' | 'refused' | 'expired' | 'retry' | 'empty';
  idempotencyKey: string | null;
  status: number | null;
  /** Notifications of the destination still pending after this step. */
  pending: number;
  /** The receiver, by scheme, host and path (absent from steps recorded before it was added). */
  receiver?: string | null;
  /** Why the attempt was refused or failed, without the URL's secrets. */
  reason?: string | null;
}
