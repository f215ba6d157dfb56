import type { Command } from 'commander';
import { z } from 'zod';
import { evaluateCohort, explainEmptyCohort } from '../../activities/evaluate/evaluate-cohort';
import { timestampSchema } from '../../contracts/records';
import { getLabelDefinitionForModel } from '../../activities/evaluate/label-definitions';
import type { BinaryMetrics } from '../../stats/finish-metrics';
import type { MetricInterval } from '../../stats/traffic-comparison';
import { withDatabase } from '../context';
import { addCohortOptions, checkAsOf, cohortOptionsSchema, cohortSelectorFrom, parseOptions } from '../options';
import { createOutput, EXIT, UsageError } from '../output';
import { parseLabelDefinitionRef } from '../../contracts/label-definition';
import { type EvaluationDocument, type GroupMetrics, type SliceMetrics } from '../../contracts/evaluation';

const evaluateOptionsSchema = z.intersection(
  cohortOptionsSchema,
  z.object({ asOf: timestampSchema, propensityWeighted: z.boolean().optional(), intervals: z.boolean().optional() }),
);

function formatNumber(value: unknown): string {
  return typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(4)) : value === null ? '—' : String(value);
}

/** The scalar metrics of a group, each with its value or, when null, why. */
function formatScalars(metrics: GroupMetrics): string[] {
  return Object.entries(metrics)
    .filter(([, value]) => typeof value !== 'object' || value === null)
    .map(
      ([name, value]) =>
        `  ${name.padEnd(20)} ${formatNumber(value)}` +
        `${value === null && metrics.undefined_metrics[name] ? `  (${metrics.undefined_metrics[name]})` : ''}`,
    );
}

/** A ranking definition's per-request metrics, on one line. */
function formatRanking(metrics: GroupMetrics, indent: string): string[] {
  const r = metrics.ranking;
  if (!r) return [];
  return [
    `${indent}ranking@${r.k}: requests=${r.n_requests} final=${r.n_final_requests} ndcg=${formatNumber(r.ndcg)} mrr=${formatNumber(r.mrr)} ` +
      `hit_rate=${formatNumber(r.hit_rate)} precision=${formatNumber(r.precision)} recall=${formatNumber(r.recall)}`,
  ];
}

function formatTable(title: string, header: string[], rows: unknown[][]): string[] {
  if (rows.length === 0) return [];
  return [
    `  ${title}`,
    `    ${header.map((cell) => cell.padStart(10)).join(' ')}`,
    ...rows.map((row) => `    ${row.map((cell) => formatNumber(cell).padStart(10)).join(' ')}`),
  ];
}

/** Binary documents also get their calibration bins and a thinned threshold curve. */
function formatCurves(metrics: GroupMetrics): string[] {
  if (!('calibration' in metrics)) return [];
  const bins = (name: string, list: BinaryMetrics['calibration']['uniform']) =>
    formatTable(
      `calibration (${name})`,
      ['lower', 'upper', 'count', 'predicted', 'observed'],
      list.map((bin) => [bin.lower, bin.upper, bin.count, bin.mean_predicted, bin.fraction_positive]),
    );
  return [
    ...bins('uniform', metrics.calibration.uniform),
    ...bins('quantile', metrics.calibration.quantile),
    ...formatTable(
      'score deciles',
      ['decile', 'count', 'min', 'max', 'predicted', 'observed'],
      metrics.calibration_deciles.map((d) => [d.decile, d.count, d.min_score, d.max_score, d.mean_predicted, d.fraction_positive]),
    ),
    ...formatTable(
      'threshold curve (every 0.1)',
      ['threshold', 'precision', 'recall', 'fpr', 'flagged', 'cost'],
      metrics.threshold_curve
        .filter((_, j) => j % 2 === 0)
        .map((p) => [p.threshold, p.precision, p.recall, p.fpr, p.predicted_positive_rate, p.expected_cost]),
    ),
  ];
}

/** A binary group's 95% intervals (`--intervals`), one metric a line. */
function formatIntervals(metrics: GroupMetrics, indent: string): string[] {
  if (!('intervals' in metrics) || !metrics.intervals) return [];
  const { intervals } = metrics;
  return [
    `${indent}95% intervals (bootstrap seed ${intervals.bootstrap.seed}, ${intervals.bootstrap.resamples} resamples)`,
    ...Object.entries(intervals.metrics).map(
      ([name, i]) =>
        `${indent}  ${name.padEnd(10)} ${formatNumber(i.value)} [${formatNumber(i.low)}, ${formatNumber(i.high)}] ${i.method}` +
        `${i.low === null ? `  (${intervals.undefined_intervals[name as keyof typeof intervals.undefined_intervals]})` : ''}`,
    ),
  ];
}

function formatSlice(slice: SliceMetrics): string {
  const headline =
    'roc_auc' in slice
      ? `roc_auc=${formatNumber(slice.roc_auc)} pr_auc=${formatNumber(slice.pr_auc)} ` +
        `ece=${formatNumber(slice.ece)} recall=${formatNumber(slice.recall)}`
      : `mae=${formatNumber(slice.mae)} rmse=${formatNumber(slice.rmse)} r2=${formatNumber(slice.r2)}`;
  return `  ${slice.dimension}=${slice.value ?? '(missing)'}: n=${slice.n} labeled=${slice.n_labeled} ${headline}`;
}

/** Exploration against policy traffic: each compared metric with its interval on both sides. */
function formatTraffic(traffic: EvaluationDocument['traffic']): string[] {
  if (traffic === null) return [];
  const interval = (i: MetricInterval) => `${formatNumber(i.value)} [${formatNumber(i.ci_low)}, ${formatNumber(i.ci_high)}]`;
  return [
    `  traffic: exploration n=${traffic.exploration.n} labeled=${traffic.exploration.n_labeled}, ` +
      `policy n=${traffic.policy.n} labeled=${traffic.policy.n_labeled}`,
    ...traffic.comparison.map(
      (c) =>
        `    ${c.metric.padEnd(10)} exploration ${interval(c.exploration)}  policy ${interval(c.policy)}${c.differs ? '  DIFFERS' : ''}`,
    ),
  ];
}

function formatWeighted(weighted: EvaluationDocument['propensity_weighted']): string[] {
  if (!weighted) return [];
  const rate = weighted.base_rate;
  return [
    `  propensity-weighted (${weighted.n_weighted} of ${weighted.n_labeled} labeled, ` +
      `effective sample size ${formatNumber(weighted.effective_sample_size)}): ` +
      `base_rate ${formatNumber(rate.value)} [${formatNumber(rate.ci_low)}, ${formatNumber(rate.ci_high)}] ` +
      `roc_auc ${formatNumber(weighted.roc_auc)}`,
  ];
}

export function registerEvaluate(program: Command, setExit: (code: number) => void): void {
  addCohortOptions(program.command('evaluate').description('evaluate one cohort under a label definition as of a moment'), { asOf: true })
    .option('--propensity-weighted', 'add the base rate and ROC AUC of the labeled predictions weighted by 1 / propensity (binary)')
    .option('--intervals', 'add a 95% interval to each headline metric of every group: Wilson, DeLong, seeded bootstrap')
    .option('--json', 'print the evaluation document as JSON')
    .action(async (raw: Record<string, unknown>) => {
      const options = parseOptions(evaluateOptionsSchema, raw, 'evaluate');
      const out = createOutput(Boolean(options.json));
      checkAsOf('evaluate', { start: options.from, end: options.to }, options.asOf, out.info);
      const { document, empty } = await withDatabase(async (db) => {
        const cohort = cohortSelectorFrom(options);
        const definition = await getLabelDefinitionForModel(db, parseLabelDefinitionRef(options.labelDefinition), cohort.model_name);
        if (options.propensityWeighted && definition.task !== 'binary')
          throw new UsageError(
            `evaluate: --propensity-weighted needs a binary label definition; ` +
              `${definition.name}@${definition.version} is ${definition.task}`,
          );
        const evaluated = await evaluateCohort(db, cohort, definition, options.asOf, {
          propensityWeighted: Boolean(options.propensityWeighted),
          intervals: Boolean(options.intervals),
        });
        return { document: evaluated, empty: evaluated.overall.n === 0 ? await explainEmptyCohort(db, evaluated) : null };
      });
      out.result(document, () => {
        return [
          `${document.cohort.model_name}@${document.cohort.model_version} [${document.cohort.start}, ${document.cohort.end}) ` +
            `as of ${document.as_of}`,
          ...formatScalars(document.overall),
          ...formatRanking(document.overall, '  '),
          ...formatIntervals(document.overall, '  '),
          ...formatCurves(document.overall),
          `  join ${JSON.stringify(document.join)}`,
          ...(document.excluded.invalid_score > 0
            ? [`  excluded: ${document.excluded.invalid_score} predictions with a score outside [0, 1] (invalid_score)`]
            : []),
          ...document.slices.flatMap((slice) => [formatSlice(slice), ...formatRanking(slice, '    '), ...formatIntervals(slice, '    ')]),
          ...formatTraffic(document.traffic),
          ...formatWeighted(document.propensity_weighted),
        ].join('\n');
      });
      if (document.traffic?.selection_bias_warning) out.info(`hindsight: evaluate: warning: ${document.traffic.selection_bias_warning}`);
      // The document still goes to stdout (n: 0), so a pipeline reads it like any other.
      if (empty) out.info(`hindsight: evaluate: nothing to evaluate: ${empty}`);
      setExit(empty ? EXIT.partial : EXIT.ok);
    });
}
