import { ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Command } from 'commander';
import { fixedDurationMs } from '../../contracts/iso-duration';
import { getPolicy, listPolicies, parsePolicyRef, putPolicy, type PolicyRule } from '../../activities/monitoring/policy';
import { loadEnv } from '../../workers/env';
import { FEED_WATCH_WORKFLOW } from '../../contracts/workflow-names';
import { withDatabase, withTemporalClient } from '../context';
import { createOutput, EXIT, UsageError } from '../output';
import { registerVersionedDocuments } from '../versioned-documents';
import { redactPolicyWebhooks } from '../../activities/delivery/webhook-config';
import { feedWatchScheduleId } from '../../contracts/monitoring';
import { MIN_SCHEDULE_PERIOD_MS } from '../../contracts/schedules';

export function registerPolicy(program: Command, setExit: (code: number) => void): void {
  const group = registerVersionedDocuments(program, setExit, {
    name: 'policy',
    description: 'store, list and show versioned monitoring policies (alert rules and actions)',
    put: {
      file: 'monitoring policy JSON file',
      description: 'store a policy version (immutable once stored)',
      store: putPolicy,
      warnings: (result) => result.warnings,
      report: (result) => {
        const feeds = result.policy.rules.some((rule) => rule.kind === 'stalled_feed');
        return {
          json: { outcome: result.outcome, name: result.policy.name, version: result.policy.version, rules: result.policy.rules.length },
          human: () =>
            `${result.policy.name}@${result.policy.version}: ${result.outcome}, ${result.policy.rules.length} rule(s)` +
            (feeds ? `\nits stalled_feed rules run on their own schedule: hindsight policy watch ${result.policy.name}` : ''),
        };
      },
    },
    list: {
      read: listPolicies,
      line: (row) => `${row.name}@${row.version}\t${row.model_name}\t${row.rules} rule(s)\t${row.changelog ?? ''}`,
    },
    // Credential headers of policies stored before they were refused, and URLs' user info and queries, show as ***.
    show: async (db, ref) => redactPolicyWebhooks(await getPolicy(db, parsePolicyRef(ref))),
  });
  group
    .command('watch')
    .argument('<name>', 'the policy whose stalled_feed rules to check')
    .option('--every <duration>', 'how often to check (default: the shortest check_every of its rules), at least PT1M')
    .option('--allow-short-periods', 'allow checks more often than once a minute (tests and demos)')
    .option('--json', 'print one JSON document')
    .description('create the Temporal Schedule that checks the label feeds of a policy on their own clock')
    .action(async (name: string, options: { every?: string; allowShortPeriods?: boolean; json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const policy = await withDatabase((db) => getPolicy(db, parsePolicyRef(name)));
      const feeds = policy.rules.filter((rule): rule is Extract<PolicyRule, { kind: 'stalled_feed' }> => rule.kind === 'stalled_feed');
      if (feeds.length === 0) throw new UsageError(`policy ${policy.name}@${policy.version} has no stalled_feed rule to watch`);
      const every =
        options.every ??
        feeds.map((rule) => rule.check_every).sort((a, b) => (fixedDurationMs(a) ?? Infinity) - (fixedDurationMs(b) ?? Infinity))[0]!;
      const everyMs = fixedDurationMs(every);
      if (everyMs === undefined || everyMs <= 0)
        throw new UsageError(`--every ${every}: give a fixed duration such as PT1H or P1D (no months or years)`);
      if (everyMs < MIN_SCHEDULE_PERIOD_MS && !options.allowShortPeriods)
        throw new UsageError(
          `policy watch: ${options.every === undefined ? `check_every ${every} of ${policy.name}@${policy.version}` : `--every ${every}`} ` +
            'is shorter than the minimum of 1 minute (PT1M); give --every PT1M or more, or pass --allow-short-periods (tests and demos)',
        );
      const scheduleId = feedWatchScheduleId(policy.name);
      await withTemporalClient(env, async (client) => {
        try {
          await client.schedule.create({
            scheduleId,
            spec: { intervals: [{ every: everyMs }] },
            action: {
              type: 'startWorkflow',
              workflowType: FEED_WATCH_WORKFLOW,
              workflowId: scheduleId,
              taskQueue: env.HINDSIGHT_TASK_QUEUE,
              args: [{ policy: policy.name }],
              staticSummary: `check the label feeds of ${policy.name}`,
            },
            // A check that is still running makes the next one pointless.
            policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
            // What `schedule list|describe` show (control/schedules.ts).
            memo: { hindsight_feed_watch: { policy: policy.name, model_name: policy.model_name, every } },
          });
        } catch (error) {
          if (error instanceof ScheduleAlreadyRunning)
            throw new UsageError(`schedule ${scheduleId} exists already; delete it with: hindsight schedule delete ${scheduleId}`);
          throw error;
        }
      });
      out.result({ schedule_id: scheduleId, every }, () => `${scheduleId}: checks the feeds of ${policy.name} every ${every}`);
      setExit(EXIT.ok);
    });
}
