import { activityInfo, heartbeat } from '@temporalio/activity';

/**
 * Keeps a long SQL statement visible to Temporal so a dead worker is noticed by heartbeat
 * timeout. `checkpoint` makes its argument the heartbeat details, sent now and with every
 * later beat; a retry reads the last ones sent as `resumed`.
 */
export async function withHeartbeat<T>(
  work: (checkpointing: { resumed: unknown; save: (details: unknown) => void }) => Promise<T>,
  everyMs = 2_000,
): Promise<T> {
  let details: unknown;
  const beat = (): void => (details === undefined ? heartbeat() : heartbeat(details));
  const timer = setInterval(beat, everyMs);
  try {
    return await work({
      resumed: activityInfo().heartbeatDetails,
      save: (next) => {
        details = next;
        beat();
      },
    });
  } finally {
    clearInterval(timer);
  }
}
