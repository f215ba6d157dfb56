import { patched, proxyActivities } from '@temporalio/workflow';
import type { FeedWatchInput } from '../contracts/monitoring';
import type { HindsightActivities } from '../activities';
import { DELIVERY_PATCH } from '../contracts/delivery';

const { checkStalledFeeds, deliverAlertNotifications } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One run of a policy's feed watch, started by its schedule (`hindsight policy watch`): the
 * label feeds are checked on their own clock, not only when a cohort reaches a checkpoint, so
 * a stalled review queue pages someone the day it stops, not a month later.
 */
export async function feedWatch(input: FeedWatchInput): Promise<{ stalled: string[] }> {
  const now = new Date(Date.now()).toISOString();
  const delivery = patched(DELIVERY_PATCH);
  const result = await checkStalledFeeds.executeWithOptions({ summary: `check the label feeds of ${input.policy}` }, [
    { policy: input.policy, now, ...(delivery ? { wakeDeliveries: true } : {}) },
  ]);
  // Under the delivery patch the check itself woke the destinations' delivery workflows.
  if (!delivery && result.notifications > 0) {
    await deliverAlertNotifications.executeWithOptions({ summary: 'notify the webhook' }, [{ cohortId: null }]);
  }
  return { stalled: result.checks.filter((c) => c.state === 'firing').map((c) => c.outcome_type) };
}
