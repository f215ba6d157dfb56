import type { Command } from 'commander';
import { z } from 'zod';
import { alertPayload } from '../../activities/monitoring/alert-store';
import { alertDeliveries, type AlertDelivery } from '../../activities/delivery/outbox';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT } from '../output';

/** A page of alerts at most this long, unless --limit says otherwise (it may not say more than MAX_LIMIT). */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

const listOptions = z.object({
  model: z.string().min(1).optional(),
  state: z.enum(['firing', 'resolved', 'retracted', 'error']).optional(),
  cohort: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
  cursor: z.coerce.number().int().min(0).optional(),
  json: z.boolean().optional(),
});

/** One alert's line: its state, rule, cohort and slice, the numbers, and where its notifications stand. */
function alertLine(a: Record<string, unknown>, deliveries: AlertDelivery[]): string {
  const slice = a.slice as { dimension: string; value: string } | null;
  const diagnosis = a.diagnosis as { verdict?: string } | null;
  const evidence = a.evidence as { reason?: string } | null;
  const numbers =
    a.state === 'error'
      ? `not judged: ${evidence?.reason ?? 'unknown error'}`
      : `${a.metric ?? ''} ${a.observed ?? '—'} vs ${a.baseline ?? '—'}`;
  const delivery = deliveries.map((d) => `${d.transition} ${d.state}${d.last_status ? ` ${d.last_status}` : ''}`).join(', ');
  return [
    a.alert_id,
    a.state,
    a.severity,
    a.rule,
    a.cohort_id ?? '(feed)',
    slice ? `${slice.dimension}=${slice.value}` : 'overall',
    numbers,
    diagnosis?.verdict ? `diagnosis ${diagnosis.verdict}` : '',
    delivery ? `notified: ${delivery}` : '',
    a.runbook,
  ].join('\t');
}

export function registerAlerts(program: Command, setExit: (code: number) => void): void {
  const group = program.command('alerts').description('alerts raised by monitoring policies');
  group
    .command('list')
    .option('--model <name>', 'only this model')
    .option('--state <state>', 'firing, resolved, retracted or error (a rule that could not be judged)')
    .option('--cohort <id>', 'only this cohort')
    .option('--limit <n>', `at most this many alerts (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`)
    .option('--cursor <id>', 'the alerts after this one: the next_cursor of the previous page')
    .option('--json', 'print one JSON document')
    .action(async (raw: unknown) => {
      const options = parseOptions(listOptions, raw, 'alerts list');
      const out = createOutput(Boolean(options.json));
      const { rows, deliveries } = await withDatabase(async (db) => {
        const rows: Array<Record<string, unknown>> = await db('alerts')
          .modify((q) => {
            if (options.model) q.where('model_name', options.model);
            if (options.state) q.where('state', options.state);
            if (options.cohort) q.where('cohort_id', options.cohort);
            if (options.cursor !== undefined) q.where('alert_id', '>', options.cursor);
          })
          .orderBy('alert_id')
          .limit(options.limit + 1);
        const page = rows.slice(0, options.limit);
        return {
          rows,
          deliveries: await alertDeliveries(
            db,
            page.map((row) => Number(row.alert_id)),
          ),
        };
      });
      const more = rows.length > options.limit;
      const alerts = rows.slice(0, options.limit).map((row): Record<string, unknown> & { deliveries: AlertDelivery[] } => ({
        ...alertPayload(row),
        deliveries: deliveries.get(Number(row.alert_id)) ?? [],
      }));
      const nextCursor = more ? Number(rows[options.limit - 1]!.alert_id) : null;
      out.result({ alerts, next_cursor: nextCursor }, () => {
        const lines = alerts.length === 0 ? ['no alerts'] : alerts.map((a) => alertLine(a, a.deliveries));
        if (nextCursor !== null) lines.push(`more alerts follow: --cursor ${nextCursor}`);
        return lines.join('\n');
      });
      setExit(EXIT.ok);
    });
}
