import type { Command } from 'commander';
import { z } from 'zod';
import { isoDurationSchema } from '../../contracts/iso-duration';
import { timestampSchema } from '../../contracts/records';
import { applyRetention, planRetention, type RetentionPlan } from '../../sql/retention';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT } from '../output';

const retentionOptionsSchema = z.object({
  keep: isoDurationSchema,
  now: timestampSchema.optional(),
  force: z.boolean().optional(),
  json: z.boolean().optional(),
});

function describePlan(plan: RetentionPlan, verb: string): string {
  const lines = [`keep ${plan.keep}: partitions entirely before ${plan.cutoff} ${verb}`];
  const delay = plan.longest_label_delay;
  if (delay)
    lines.push(
      `(the longest label delay: ${delay.label_definition}, window ${delay.window} + late_label_grace ${delay.late_label_grace}; ` +
        `data up to the cutoff is settled by ${delay.settled_at})`,
    );
  for (const p of plan.partitions) {
    const rows = p.rows === null ? `~${p.estimated_rows} rows` : `${p.rows} rows`;
    lines.push(
      `  ${p.drop ? 'drop' : 'keep'}  ${p.partition.padEnd(24)} [${p.from}, ${p.to})  ${rows}` +
        `${p.kept_because ? `  (${p.kept_because})` : ''}`,
    );
  }
  if (plan.partitions.every((p) => !p.drop)) lines.push('  nothing to drop');
  return lines.join('\n');
}

export function registerRetention(program: Command, setExit: (code: number) => void): void {
  const retention = program
    .command('retention')
    .description('drop whole month partitions of predictions and outcomes older than a policy; never shorter than the label delay');
  for (const [name, apply] of [
    ['plan', false],
    ['apply', true],
  ] as const) {
    retention
      .command(name)
      .description(apply ? 'drop the partitions the policy allows' : 'show which partitions the policy would drop (changes nothing)')
      .requiredOption('--keep <duration>', 'ISO-8601 duration of data to keep, e.g. P400D')
      .option('--now <iso>', 'evaluate the policy as of this instant (default now)')
      .option('--force', 'allow a --now in the future')
      .option('--json', 'print one JSON document')
      .action(async (rawOptions: unknown) => {
        const options = parseOptions(retentionOptionsSchema, rawOptions, `retention ${name}`);
        const out = createOutput(Boolean(options.json));
        await withDatabase(async (db) => {
          const plan = await planRetention(db, {
            keep: options.keep,
            force: Boolean(options.force),
            ...(options.now ? { now: options.now } : {}),
          });
          if (!apply) {
            out.result(plan, () => describePlan(plan, 'would be dropped'));
            return;
          }
          const dropped = await applyRetention(db, plan);
          const rows = dropped.reduce((sum, p) => sum + (p.rows ?? 0), 0);
          out.result({ ...plan, dropped: dropped.map((p) => ({ partition: p.partition, rows: p.rows })) }, () =>
            describePlan(plan, `dropped (${dropped.length} partitions, ${rows} rows)`),
          );
        });
        setExit(EXIT.ok);
      });
  }
}
