import { condition, continueAsNew, proxyActivities, setCurrentDetails, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { HindsightActivities } from '../activities';
import { deliveriesQueuedSignal, type AlertDeliveryInput, type DeliveryStep } from '../contracts/delivery';

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

/** What this run of a destination's delivery has done, for the Web UI's details. */
interface DeliveryTally {
  receiver: string | null;
  pending: number;
  delivered: number;
  refused: number;
  expired: number;
  failures: number;
  lastProblem: string | null;
}

export function describeDelivery(tally: DeliveryTally): string {
  const lines = [
    `## Alert delivery to ${tally.receiver ?? 'a webhook'}`,
    '',
    `Pending: ${tally.pending}. This run: ${tally.delivered} delivered, ${tally.refused} refused, ${tally.expired} expired.`,
  ];
  if (tally.failures > 0) lines.push('', `The receiver has failed ${tally.failures} attempt(s) in a row; retrying with backoff.`);
  if (tally.lastProblem) lines.push('', `Last problem: ${tally.lastProblem}`);
  // A closing line: the Web UI's details frame cuts the last line of its content short.
  lines.push('', "`hindsight alerts list` shows each alert's notifications.");
  return lines.join('\n');
}

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
  const tally: DeliveryTally = { receiver: null, pending: 0, delivered: 0, refused: 0, expired: 0, failures: 0, lastProblem: null };
  const note = (result: DeliveryStep): void => {
    tally.receiver = result.receiver ?? tally.receiver;
    tally.pending = result.pending;
    if (result.outcome === 'delivered' || result.outcome === 'refused' || result.outcome === 'expired') tally[result.outcome]++;
    if (result.reason) tally.lastProblem = result.reason;
    tally.failures = failures;
    setCurrentDetails(describeDelivery(tally));
  };
  for (let step = 1; ; step++) {
    queued = false;
    const result = await deliverNextNotification.executeWithOptions({ summary: `deliver the oldest pending notification` }, [
      { destination: input.destination },
    ]);
    failures = result.outcome === 'retry' ? failures + 1 : 0;
    note(result);
    if (result.outcome === 'empty') {
      if (!(await condition(() => queued, IDLE_MS))) return;
    } else if (result.outcome === 'retry') {
      await sleep(backoffMs(failures));
    }
    if (step >= STEPS_PER_RUN || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof alertDelivery>(input);
  }
}
