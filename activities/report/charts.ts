/**
 * The report's charts as Vega-Lite specs, compiled to Vega and rendered to SVG in Node, so a
 * report is one file that draws with no script, font or network. Each builder takes plain
 * rows and says only what is drawn; {@link renderChart} does the rest.
 */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };

export interface ReliabilityPoint {
  binning: 'uniform' | 'quantile';
  mean_predicted: number;
  fraction_positive: number;
  count: number;
}

export interface SeriesPoint {
  /** The x position: a snapshot label, a checkpoint or a week, in the order given. */
  x: string;
  series: string;
  value: number;
}

export interface ThresholdRow {
  threshold: number;
  metric: string;
  value: number;
}

export interface ShareBin {
  bin: string;
  side: 'reference' | 'current';
  share: number;
}

export interface EstimateRow {
  estimator: string;
  value: number;
  ci_low: number | null;
  ci_high: number | null;
}

export interface AlertMarker {
  x: string;
  severity: string;
  label: string;
}

/** System fonts only: a report may not fetch one. */
const CONFIG = {
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelLimit: 320 },
} as const;
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

function top(title: string, spec: Record<string, unknown>): TopLevelSpec {
  return { $schema: SCHEMA, title, width: 360, height: 300, config: CONFIG, ...spec } as TopLevelSpec;
}

/** Mean predicted against fraction positive per bin, both binnings, over the diagonal of perfect calibration. */
export function reliabilitySpec(title: string, points: ReliabilityPoint[]): TopLevelSpec {
  const axis = { type: 'quantitative', scale: { domain: [0, 1] } } as const;
  return top(title, {
    width: 320,
    height: 320,
    layer: [
      {
        data: { values: [{ p: 0 }, { p: 1 }] },
        mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: { field: 'p', ...axis, title: 'mean predicted score' }, y: { field: 'p', ...axis, title: 'fraction positive' } },
      },
      {
        data: { values: points },
        mark: { type: 'line', point: { filled: true, size: 50 } },
        encoding: {
          x: { field: 'mean_predicted', ...axis },
          y: { field: 'fraction_positive', ...axis },
          color: { field: 'binning', type: 'nominal', title: 'bins' },
          // Dashed uniform over solid quantile: where the two binnings coincide both stay visible.
          strokeDash: {
            field: 'binning',
            type: 'nominal',
            title: 'bins',
            scale: {
              domain: ['quantile', 'uniform'],
              range: [
                [1, 0],
                [6, 3],
              ],
            },
          },
          tooltip: [{ field: 'binning' }, { field: 'count', type: 'quantitative' }],
        },
      },
    ],
  });
}

/**
 * Values per series along an ordinal x (checkpoints and revisions, or weeks), with optional
 * alert markers drawn as red ticks at the top of the x positions that carry an alert.
 */
export function seriesSpec(
  title: string,
  points: SeriesPoint[],
  options: { xTitle: string; yTitle: string; markers?: AlertMarker[] },
): TopLevelSpec {
  const order = [...new Set(points.map((p) => p.x))];
  const x = { field: 'x', type: 'ordinal', sort: order, title: options.xTitle, axis: { labelAngle: -30 } } as const;
  const lines = {
    data: { values: points },
    mark: { type: 'line', point: { filled: true, size: 50 } },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative', title: options.yTitle },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
  const markers = options.markers ?? [];
  if (markers.length === 0) return top(title, { width: Math.max(360, 70 * order.length), ...lines });
  return top(title, {
    width: Math.max(360, 70 * order.length),
    layer: [
      lines,
      {
        data: { values: markers },
        mark: { type: 'point', shape: 'triangle-down', filled: true, size: 120, color: '#c0392b' },
        encoding: { x, y: { datum: 1, type: 'quantitative' }, tooltip: [{ field: 'label' }, { field: 'severity' }] },
      },
    ],
  });
}

/** Precision, recall and f1 against the decision threshold. */
export function thresholdSpec(title: string, rows: ThresholdRow[]): TopLevelSpec {
  return top(title, {
    data: { values: rows },
    mark: { type: 'line' },
    encoding: {
      x: { field: 'threshold', type: 'quantitative', scale: { domain: [0, 1] }, title: 'threshold (positive when score ≥ t)' },
      y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: null },
      color: { field: 'metric', type: 'nominal', title: null },
    },
  });
}

/** The reference's and the current cohort's share of predictions per score bin. */
export function psiSpec(title: string, bins: ShareBin[]): TopLevelSpec {
  return top(title, {
    width: 420,
    data: { values: bins },
    mark: { type: 'bar' },
    encoding: {
      x: {
        field: 'bin',
        type: 'ordinal',
        sort: [...new Set(bins.map((b) => b.bin))],
        title: 'score bin (reference deciles)',
        axis: { labelAngle: -30 },
      },
      xOffset: { field: 'side' },
      y: { field: 'share', type: 'quantitative', title: 'share of predictions' },
      color: { field: 'side', type: 'nominal', title: null },
    },
  });
}

/** Each estimator's value with its interval (rows with both), against the logged policy's value. */
export function estimatesSpec(title: string, rows: EstimateRow[], loggedValue: number | null): TopLevelSpec {
  const y = { field: 'estimator', type: 'nominal', sort: rows.map((r) => r.estimator), title: null } as const;
  const layer: object[] = [
    {
      mark: { type: 'rule', strokeWidth: 2 },
      encoding: { y, x: { field: 'ci_low', type: 'quantitative', title: 'policy value' }, x2: { field: 'ci_high' } },
    },
    { mark: { type: 'point', filled: true, size: 80 }, encoding: { y, x: { field: 'value', type: 'quantitative' } } },
  ];
  if (loggedValue !== null) {
    layer.push({
      data: { values: [{ logged: loggedValue }] },
      mark: { type: 'rule', color: '#c0392b', strokeDash: [4, 4] },
      encoding: { x: { field: 'logged', type: 'quantitative' } },
    });
  }
  return top(title, { height: 40 * rows.length + 20, data: { values: rows }, layer });
}

/**
 * Vega-Lite → Vega → SVG, headless (no canvas, no DOM). vega and vega-lite are ES modules,
 * loaded on first use so the CommonJS build and the commands that never chart don't pay.
 */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
