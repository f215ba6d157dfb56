import { condition, continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { HindsightActivities } from '../activities';
import { deliveriesQueuedSignal, type AlertDeliveryInput } from '../contracts/delivery';

const { deliverNextNotification } = proxyActivities<HindsightActivities>({
  // One attempt: the receiver's 10 s plus the bookkeeping; a lost worker costs at most this.
  startToCloseTimeout: '12 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Waiting between attempts at a failing receiver: 1 s, doubling, at most a minute. */
const backoffMs = (failures: number): number => Math.min(60_000, 1_000 * 2 ** Math.max(0, failures - 1));
/** With nothing pending for this long, the workflow ends; the next queued notification starts it again. */
const IDLE_MS = 10 * 60_000;
/** Steps per run before it continues as new, so its history stays short. */
const STEPS_PER_RUN = 200;

/**
 * The notifications of one destination, delivered in the order they were queued with at most
 * one request in flight (docs/alerts.md#delivery). A failing receiver is retried with backoff
 * until it answers or the notification expires; a refusal is recorded and the next one goes.
 * The cohort workflows that queue notifications never wait on this one.
 */
export async function alertDelivery(input: AlertDeliveryInput): Promise<void> {
  let queued = false;
  setHandler(deliveriesQueuedSignal, () => {
    queued = true;
  });
  let failures = 0;
  for (let step = 1; ; step++) {
    queued = false;
    const result = await deliverNextNotification.executeWithOptions({ summary: `deliver the oldest pending notification` }, [
      { destination: input.destination },
    ]);
    if (result.outcome === 'empty') {
      if (!(await condition(() => queued, IDLE_MS))) return;
      failures = 0;
    } else if (result.outcome === 'retry') {
      failures++;
      await sleep(backoffMs(failures));
    } else {
      failures = 0;
    }
    if (step >= STEPS_PER_RUN || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof alertDelivery>(input);
  }
}
