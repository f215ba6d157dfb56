import type { Knex } from 'knex';
import { getLabelDefinition } from '../evaluate/label-definitions';
import { toUtcIso } from '../../contracts/utc-timestamp';
import { queueAlertNotification } from './alert-store';
import { getPolicy, runbookFor, type PolicyRule } from './policy';
import { namedOutcomeTypes } from '../../contracts/label-definition';

export interface FeedCheck {
  rule: string;
  outcome_type: string;
  last_received: string | null;
  silent_for_seconds: number | null;
  state: 'firing' | 'ok';
}

/**
 * The `stalled_feed` rules of a policy, checked as of `now` (the schedule's own clock, not a
 * checkpoint): an outcome type with nothing received within `max_silence` fires one alert per
 * (rule, type); when outcomes arrive again the alert is resolved. Transitions go to the
 * webhook outbox like cohort alerts.
 */
export async function checkStalledFeeds(
  db: Knex,
  input: { policy: string; now: string },
): Promise<{ checks: FeedCheck[]; notifications: number }> {
  const policy = await getPolicy(db, { name: input.policy });
  const rules = policy.rules.filter((rule): rule is Extract<PolicyRule, { kind: 'stalled_feed' }> => rule.kind === 'stalled_feed');
  const definition = rules.some((rule) => !rule.outcome_types) ? await getLabelDefinition(db, { name: policy.label_definition }) : null;
  const checks: FeedCheck[] = [];
  let notifications = 0;
  for (const rule of rules) {
    for (const type of rule.outcome_types ?? namedOutcomeTypes(definition!)) {
      const { rows } = await db.raw(
        `select max(ts_received) as last,
                coalesce(max(ts_received) < :now::timestamptz - :silence::interval, true) as stalled
         from outcomes where outcome_type = :type and ts_received <= :now::timestamptz`,
        { now: input.now, silence: rule.max_silence, type },
      );
      const last: Date | null = rows[0].last;
      const stalled: boolean = rows[0].stalled;
      checks.push({
        rule: rule.name,
        outcome_type: type,
        last_received: last ? toUtcIso(last) : null,
        silent_for_seconds: last ? Math.round((Date.parse(input.now) - last.getTime()) / 1000) : null,
        state: stalled ? 'firing' : 'ok',
      });
      notifications += await db.transaction(async (trx) => {
        const dedupKey = [policy.name, rule.name, 'feed', `outcome_type=${type}`].join('/');
        const existing = await trx('alerts').where({ dedup_key: dedupKey }).forUpdate().first('alert_id', 'state');
        const evidence = { last_received: last ? toUtcIso(last) : null, max_silence: rule.max_silence, checked_at: input.now };
        let transition: 'firing' | 'resolved' | null = null;
        let alertId: number | null = existing ? Number(existing.alert_id) : null;
        if (stalled && !existing) {
          const [row] = await trx('alerts')
            .insert({
              dedup_key: dedupKey,
              policy_name: policy.name,
              policy_version: policy.version,
              rule_name: rule.name,
              rule_kind: rule.kind,
              model_name: policy.model_name,
              slice_dimension: 'outcome_type',
              slice_value: type,
              severity: rule.severity,
              state: 'firing',
              evidence,
              runbook: runbookFor(rule),
              fired_at: input.now,
              updated_at: input.now,
            })
            .returning('alert_id');
          alertId = Number(row.alert_id);
          transition = 'firing';
        } else if (stalled && existing.state !== 'firing') {
          await trx('alerts')
            .where({ alert_id: alertId })
            .update({ state: 'firing', evidence, fired_at: input.now, updated_at: input.now, cleared_at: null });
          transition = 'firing';
        } else if (!stalled && existing?.state === 'firing') {
          await trx('alerts')
            .where({ alert_id: alertId })
            .update({ state: 'resolved', evidence, updated_at: input.now, cleared_at: input.now });
          transition = 'resolved';
        }
        return transition === null ? 0 : queueAlertNotification(trx, policy, alertId!, transition, input.now);
      });
    }
  }
  return { checks, notifications };
}
