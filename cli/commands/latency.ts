import type { Command } from 'commander';
import { z } from 'zod';
import { timestampSchema } from '../../contracts/records';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import { measureLabelLatency, type LatencyQuantiles } from '../../activities/evaluate/label-latency';
import { withDatabase } from '../context';
import { addCohortOptions, checkAsOf, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';

const latencyOptionsSchema = z.intersection(cohortOptionsSchema, z.object({ asOf: timestampSchema }));

const hours = (q: LatencyQuantiles | null) =>
  q === null ? '—' : `p50 ${(q.p50 / 3600).toFixed(1)}h p90 ${(q.p90 / 3600).toFixed(1)}h p99 ${(q.p99 / 3600).toFixed(1)}h`;

export function registerLatency(program: Command, setExit: (code: number) => void): void {
  addCohortOptions(
    program
      .command('latency')
      .description(
        'label latency of a cohort per slice, and the share of eventual positives earlier finalized cohorts had at each checkpoint',
      ),
    { asOf: true },
  )
    .option('--json', 'print one JSON document')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(latencyOptionsSchema, raw, 'latency');
      const out = createOutput(Boolean(options.json));
      checkAsOf('latency', { start: options.from, end: options.to }, options.asOf, out.info);
      const document = await withDatabase(async (db) => {
        const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), options.model);
        return measureLabelLatency(db, {
          cohort: cohortSelectorFrom(options),
          definition,
          asOf: options.asOf,
        });
      });
      out.result(document, () => {
        const lines = [
          `${document.cohort.model_name}@${document.cohort.model_version} [${document.cohort.start}, ${document.cohort.end}) ` +
            `as of ${document.as_of}; history: ${document.history_cohorts.length} finalized cohort(s)`,
        ];
        for (const group of [{ dimension: '', value: '', ...document.overall }, ...document.slices]) {
          const share = group.expected_completeness
            .map((c) => `${c.checkpoint} ${c.expected_share === null ? '—' : `${(c.expected_share * 100).toFixed(0)}%`}`)
            .join(', ');
          lines.push(
            `  ${group.dimension === '' ? 'overall' : `${group.dimension}=${group.value ?? '(missing)'}`}: n=${group.n}; ` +
              `event−prediction ${hours(group.event_minus_prediction)}; received−event ${hours(group.received_minus_event)}; ` +
              `expected completeness ${share}`,
          );
        }
        return lines.join('\n');
      });
      setExit(EXIT.ok);
    });
}
