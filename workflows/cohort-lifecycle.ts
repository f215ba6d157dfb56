import {
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  patched,
  proxyActivities,
  proxySinks,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import {
  evaluateNowUpdate,
  getStatusQuery,
  recheckLateLabelsSignal,
  type CohortLifecycleInput,
  type CohortPhase,
  type CohortStatus,
} from '../contracts/lifecycle';
import type { HindsightActivities } from '../activities';
import type { CohortRecord } from '../contracts/cohort';
import type { AlertSummary } from '../contracts/monitoring';
import { LIFECYCLE_STAGE } from '../contracts/search-attributes';
import { DELIVERY_PATCH } from '../contracts/delivery';
import type { LifecycleSinks } from '../contracts/lifecycle';
import type { CohortPlan, SnapshotSummary } from '../contracts/lifecycle';

/**
 * Cohorts started before this patch replay without search-attribute upserts, summaries or the
 * faster heartbeat; every new cohort gets them.
 */
export const OPERATOR_VIEW_PATCH = 'operator-view';
/** Cohorts started before this patch replay without judging their model's monitoring policies. */
export const MONITORING_PATCH = 'monitoring';

const { planCohortLifecycle } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '12 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { evaluateCheckpoint, reviseFinalSnapshot } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** Judging heartbeats every 2 s, so a lost worker is noticed within 10 s whatever a rule costs. */
const { applyMonitoringPolicy, deliverAlertNotifications } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Signals and starts of other workflows: quick, so a lost worker costs at most 15 s. */
const { requestRecalibration, requestRetraining } = proxyActivities<HindsightActivities>({
  startToCloseTimeout: '12 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const FAST_RECOVERY: ActivityOptions = {
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

const { lifecycle } = proxySinks<LifecycleSinks>();

/** A headline number as operators read it: integers as they are, others to four places, none as a dash. */
export function formatNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : Number.isInteger(value) ? String(value) : value.toFixed(4);
}

/** A day when the moment is midnight UTC (daily and weekly cohorts), else the full timestamp. */
export function formatMoment(iso: string): string {
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z');
}

/** Markdown for the Web UI's "current details": where the cohort is, and its numbers so far. */
export function describeCohortStatus(status: CohortStatus): string {
  const lines = [`**${status.phase.replace(/_/g, ' ')}**${status.nextWakeAt ? ` until ${status.nextWakeAt}` : ''}`];
  if (status.plan) {
    const schedule = [...status.plan.checkpoints.map((c) => `${c.name} at ${c.asOf}`), `final at ${status.plan.finalAsOf}`];
    lines.push('', `Schedule: ${schedule.join(' · ')} · late labels until ${status.plan.lateLabelGraceEnd}`);
  }
  if (status.snapshots.length > 0) {
    lines.push(
      '',
      '| checkpoint | revision | as of | n | labeled | label availability | ROC AUC | Brier | recall |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const s of status.snapshots) {
      const numbers = [s.n, s.nLabeled, s.labelAvailability, s.rocAuc, s.brier, s.recall].map(formatNumber);
      lines.push(`| ${s.checkpoint} | ${s.revision} | ${s.asOf} | ${numbers.join(' | ')} |`);
    }
  }
  if (status.alerts && status.alerts.length > 0) {
    lines.push(
      '',
      '| alert | slice | state | severity | checkpoint | observed | baseline | diagnosis |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const a of status.alerts) {
      lines.push(
        `| ${a.rule} | ${a.slice} | ${a.state} | ${a.severity} | ${a.checkpoint ?? 'close'} ` +
          `| ${formatNumber(a.observed)} | ${formatNumber(a.baseline)} | ${a.verdict ?? '—'} |`,
      );
    }
  }
  if (status.pendingNotifications || status.undeliverableNotifications) {
    const counts = [
      ...(status.pendingNotifications ? [`${status.pendingNotifications} queued for delivery`] : []),
      ...(status.undeliverableNotifications ? [`${status.undeliverableNotifications} refused by their receiver or expired`] : []),
    ];
    lines.push('', `Alert notifications: ${counts.join(', ')}. \`hindsight alerts list --cohort ID\` says why.`);
  }
  if (status.snapshots.length > 0 || (status.alerts?.length ?? 0) > 0) {
    // A closing line: the Web UI's details frame cuts the last line of its content short.
    lines.push('', 'Snapshots are immutable: late labels add revisions.');
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
  let adhocRevisions = 0;
  const operatorView = patched(OPERATOR_VIEW_PATCH);
  const monitoring = operatorView && patched(MONITORING_PATCH);
  const delivery = monitoring && patched(DELIVERY_PATCH);
  const evaluation: ActivityOptions = operatorView ? FAST_RECOVERY : {};
  // Operators read this in the Web UI; it is not part of the history, so it costs no events.
  const publish = (): void => setCurrentDetails(describeCohortStatus(status));
  const enter = (phase: CohortPhase): void => {
    if (operatorView && phase !== status.phase) upsertSearchAttributes([{ key: LIFECYCLE_STAGE, value: phase }]);
    status.phase = phase;
    publish();
  };
  const record = (snapshot: SnapshotSummary): void => {
    status.snapshots.push(snapshot);
    lifecycle.snapshotStored(status.cohortId, snapshot);
    publish();
  };
  /** Judges the policies' rules on a snapshot (or, with null, on the closed cohort), then acts on them. */
  const monitor = async (snapshot: SnapshotSummary | null): Promise<void> => {
    if (!monitoring) return;
    const what = snapshot ? `the ${snapshot.checkpoint} snapshot (revision ${snapshot.revision})` : 'the closed cohort (label-free rules)';
    const outcome = await applyMonitoringPolicy.executeWithOptions({ summary: `judge ${what} by the monitoring policy` }, [
      { cohortId: status.cohortId, snapshotId: snapshot?.snapshotId ?? null, ...(delivery ? { wakeDeliveries: true } : {}) },
    ]);
    status.alerts = outcome.alerts;
    if (delivery) {
      status.pendingNotifications = outcome.notifications;
      status.undeliverableNotifications = outcome.undeliverable ?? 0;
    }
    publish();
    // Under the delivery patch the judgement itself woke the destinations' delivery workflows.
    if (!delivery && outcome.notifications > 0) {
      await deliverAlertNotifications.executeWithOptions({ summary: `notify the webhook of ${outcome.notifications} alert change(s)` }, [
        { cohortId: status.cohortId },
      ]);
    }
    if (outcome.retraining) {
      await requestRetraining.executeWithOptions({ summary: `ask for retraining of ${outcome.retraining.model}` }, [outcome.retraining]);
    }
    if (outcome.recalibration) {
      await requestRecalibration.executeWithOptions(
        { summary: `start recalibrating ${outcome.recalibration.model} ${outcome.recalibration.modelVersion}` },
        [outcome.recalibration],
      );
    }
  };

  setHandler(getStatusQuery, () => status);
  setHandler(recheckLateLabelsSignal, () => {
    recheckRequested = true;
  });
  setHandler(
    evaluateNowUpdate,
    async () => {
      const revision = ++adhocRevisions;
      // The cohort row exists once planning is done.
      await condition(() => status.plan !== null);
      const asOf = new Date(Date.now()).toISOString();
      const snapshot = await evaluateCheckpoint.executeWithOptions(
        { ...FAST_RECOVERY, summary: `evaluate now (adhoc revision ${revision}) as of ${formatMoment(asOf)}` },
        [{ cohortId: status.cohortId, checkpoint: 'adhoc', asOf, revision }],
      );
      record(snapshot);
      await monitor(snapshot);
      return snapshot;
    },
    {
      validator: () => {
        if (status.phase === 'closed') throw new Error(`cohort ${status.cohortId} is closed: its final snapshot is settled`);
      },
    },
  );

  /** Sleeps until `at` (a no-op when it has passed); a true `wakeEarly()` ends the wait. */
  const waitUntil = async (at: string, what: string, wakeEarly: () => boolean = () => false): Promise<void> => {
    const ms = Date.parse(at) - Date.now();
    status.nextWakeAt = at;
    publish();
    if (ms > 0) {
      if (operatorView) await condition(wakeEarly, ms, { summary: `wait for ${what} (${formatMoment(at)})` });
      else await condition(wakeEarly, ms);
    }
    status.nextWakeAt = null;
  };

  /** Stores revision 1 of a checkpoint's snapshot (or 'final') as of `asOf`. */
  const evaluate = async (checkpoint: string, asOf: string): Promise<void> => {
    enter('evaluating');
    const options = operatorView ? { ...evaluation, summary: `evaluate ${checkpoint} as of ${formatMoment(asOf)}` } : evaluation;
    const snapshot = await evaluateCheckpoint.executeWithOptions(options, [{ cohortId: status.cohortId, checkpoint, asOf, revision: 1 }]);
    record(snapshot);
    await monitor(snapshot);
  };

  publish();
  const plan = operatorView
    ? await planCohortLifecycle.executeWithOptions({ summary: 'plan the checkpoints from the label definition' }, [
        { cohort: input.cohort },
      ])
    : await planCohortLifecycle({ cohort: input.cohort });
  status.plan = plan;
  await monitor(null);

  for (const checkpoint of plan.checkpoints) {
    enter('waiting_for_checkpoint');
    await waitUntil(checkpoint.asOf, `the ${checkpoint.name} checkpoint`);
    await evaluate(checkpoint.name, checkpoint.asOf);
  }

  enter('waiting_for_final');
  await waitUntil(plan.finalAsOf, 'finalization');
  await evaluate('final', plan.finalAsOf);

  enter('late_label_grace');
  const checks = Math.max(1, input.lateLabelChecks ?? 4);
  const graceMs = Date.parse(plan.lateLabelGraceEnd) - Date.parse(plan.finalAsOf);
  for (let check = 1; check <= checks; check++) {
    const at = new Date(Date.parse(plan.finalAsOf) + Math.round((graceMs * check) / checks)).toISOString();
    await waitUntil(at, `late-label check ${check} of ${checks}`, () => recheckRequested);
    recheckRequested = false;
    // As of the workflow's clock, which replays identically; capped at the grace end.
    const asOf = new Date(Math.min(Date.now(), Date.parse(plan.lateLabelGraceEnd))).toISOString();
    const options = operatorView ? { ...evaluation, summary: `look for late labels as of ${formatMoment(asOf)}` } : evaluation;
    const revised = await reviseFinalSnapshot.executeWithOptions(options, [{ cohortId: status.cohortId, asOf }]);
    if (revised) {
      record(revised);
      await monitor(revised);
    }
    if (Date.now() >= Date.parse(plan.lateLabelGraceEnd)) break;
  }
  enter('closed');
  // An evaluateNow accepted just before closing still finishes and returns its snapshot.
  await condition(allHandlersFinished);
  lifecycle.cohortClosed(status.cohortId, status.snapshots.length);
  return status;
}
