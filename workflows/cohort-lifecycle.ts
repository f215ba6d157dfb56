import { condition, defineQuery, defineSignal, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { CohortPlan, HindsightActivities, SnapshotSummary } from '../activities';
import type { CohortRecord } from '../activities/cohorts';

export interface CohortLifecycleInput {
  cohort: CohortRecord;
  /** How many times to look for late labels during the grace period after finalization. */
  lateLabelChecks?: number;
}

export const COHORT_PHASES = ['planning', 'waiting_for_checkpoint', 'evaluating', 'waiting_for_final', 'late_label_grace', 'closed'] as const;
export type CohortPhase = (typeof COHORT_PHASES)[number];

export interface CohortStatus {
  cohortId: string;
  phase: CohortPhase;
  /** When the workflow next wakes on its own (UTC ISO), if it is waiting. */
  nextWakeAt: string | null;
  plan: CohortPlan | null;
  snapshots: SnapshotSummary[];
}

export const getStatusQuery = defineQuery<CohortStatus>('getStatus');
/** Asks a cohort in its late-label grace period to look for late labels now. */
export const recheckLateLabelsSignal = defineSignal('recheckLateLabels');

const { planCohortLifecycle } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { evaluateCheckpoint, reviseFinalSnapshot } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

function formatNumber(value: number | null): string {
  return value === null ? '—' : Number.isInteger(value) ? String(value) : value.toFixed(4);
}

/** Markdown for the Web UI's "current details": where the cohort is, and its numbers so far. */
export function describeCohortStatus(status: CohortStatus): string {
  const lines = [`**${status.phase.replace(/_/g, ' ')}**${status.nextWakeAt ? ` until ${status.nextWakeAt}` : ''}`];
  if (status.plan) {
    const schedule = [...status.plan.checkpoints.map((c) => `${c.name} at ${c.asOf}`), `final at ${status.plan.finalAsOf}`];
    lines.push('', `Schedule: ${schedule.join(' · ')} · late labels until ${status.plan.lateLabelGraceEnd}`);
  }
  if (status.snapshots.length > 0) {
    lines.push('', '| checkpoint | revision | as of | n | labeled | label availability | ROC AUC | Brier |', '|---|---|---|---|---|---|---|---|');
    for (const s of status.snapshots) {
      lines.push(`| ${s.checkpoint} | ${s.revision} | ${s.asOf} | ${s.n} | ${s.nLabeled} | ${formatNumber(s.labelAvailability)} | ${formatNumber(s.rocAuc)} | ${formatNumber(s.brier)} |`);
    }
  }
  return lines.join('\n');
}

/**
 * One prediction cohort from its end to the end of its late-label grace: provisional
 * snapshots at each checkpoint (`end + c`), the final one at `end + window`, then late-label
 * revisions. Rows stay in Postgres; the history carries ids and headline numbers only.
 */
export async function cohortLifecycle(input: CohortLifecycleInput): Promise<CohortStatus> {
  const status: CohortStatus = {
    cohortId: input.cohort.cohort_id,
    phase: 'planning',
    nextWakeAt: null,
    plan: null,
    snapshots: [],
  };
  let recheckRequested = false;
  // Operators read this in the Web UI; it is not part of the history, so it costs no events.
  const publish = (): void => setCurrentDetails(describeCohortStatus(status));
  setHandler(getStatusQuery, () => status);
  setHandler(recheckLateLabelsSignal, () => {
    recheckRequested = true;
  });

  /** Sleeps until `at` (a no-op when it has passed); a true `wakeEarly()` ends the wait. */
  const waitUntil = async (at: string, wakeEarly: () => boolean = () => false): Promise<void> => {
    const ms = Date.parse(at) - Date.now();
    status.nextWakeAt = at;
    publish();
    if (ms > 0) await condition(wakeEarly, ms);
    status.nextWakeAt = null;
  };

  /** Stores revision 1 of a checkpoint's snapshot (or 'final') as of `asOf`. */
  const evaluate = async (checkpoint: string, asOf: string): Promise<void> => {
    status.phase = 'evaluating';
    publish();
    status.snapshots.push(await evaluateCheckpoint({ cohortId: status.cohortId, checkpoint, asOf, revision: 1 }));
  };

  publish();
  const plan = await planCohortLifecycle({ cohort: input.cohort });
  status.plan = plan;

  for (const checkpoint of plan.checkpoints) {
    status.phase = 'waiting_for_checkpoint';
    await waitUntil(checkpoint.asOf);
    await evaluate(checkpoint.name, checkpoint.asOf);
  }

  status.phase = 'waiting_for_final';
  await waitUntil(plan.finalAsOf);
  await evaluate('final', plan.finalAsOf);

  status.phase = 'late_label_grace';
  const checks = Math.max(1, input.lateLabelChecks ?? 4);
  const graceMs = Date.parse(plan.lateLabelGraceEnd) - Date.parse(plan.finalAsOf);
  for (let check = 1; check <= checks; check++) {
    const at = new Date(Date.parse(plan.finalAsOf) + Math.round((graceMs * check) / checks)).toISOString();
    await waitUntil(at, () => recheckRequested);
    recheckRequested = false;
    // As of the workflow's clock, which replays identically; capped at the grace end.
    const asOf = new Date(Math.min(Date.now(), Date.parse(plan.lateLabelGraceEnd))).toISOString();
    const revised = await reviseFinalSnapshot({ cohortId: status.cohortId, asOf });
    if (revised) status.snapshots.push(revised);
    if (Date.now() >= Date.parse(plan.lateLabelGraceEnd)) break;
  }
  status.phase = 'closed';
  publish();
  return status;
}
