import type { Command } from 'commander';
import { z } from 'zod';
import { alertPayload } from '../../activities/monitoring/alert-store';
import { withDatabase } from '../context';
import { parseOptions } from '../options';
import { createOutput, EXIT } from '../output';

const listOptions = z.object({
  model: z.string().min(1).optional(),
  state: z.enum(['firing', 'resolved', 'retracted']).optional(),
  cohort: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

export function registerAlerts(program: Command, setExit: (code: number) => void): void {
  const group = program.command('alerts').description('alerts raised by monitoring policies');
  group
    .command('list')
    .option('--model <name>', 'only this model')
    .option('--state <state>', 'firing, resolved or retracted')
    .option('--cohort <id>', 'only this cohort')
    .option('--json', 'print one JSON document')
    .action(async (raw: unknown) => {
      const options = parseOptions(listOptions, raw, 'alerts list');
      const out = createOutput(Boolean(options.json));
      const rows = await withDatabase((db) =>
        db('alerts')
          .modify((q) => {
            if (options.model) q.where('model_name', options.model);
            if (options.state) q.where('state', options.state);
            if (options.cohort) q.where('cohort_id', options.cohort);
          })
          .orderBy('alert_id'),
      );
      const alerts: Array<Record<string, unknown>> = rows.map((row: Record<string, unknown>) => alertPayload(row));
      out.result({ alerts }, () =>
        alerts.length === 0
          ? 'no alerts'
          : alerts
              .map((a) => {
                const slice = a.slice as { dimension: string; value: string } | null;
                const diagnosis = a.diagnosis as { verdict?: string } | null;
                return [
                  a.alert_id,
                  a.state,
                  a.severity,
                  a.rule,
                  a.cohort_id ?? '(feed)',
                  slice ? `${slice.dimension}=${slice.value}` : 'overall',
                  `${a.metric ?? ''} ${a.observed ?? '—'} vs ${a.baseline ?? '—'}`,
                  diagnosis?.verdict ? `diagnosis ${diagnosis.verdict}` : '',
                  a.runbook,
                ].join('\t');
              })
              .join('\n'),
      );
      setExit(EXIT.ok);
    });
}
