/**
 * The top-level commands, each loaded only when it runs: `hindsight --help` lists them from
 * here without loading any, and `hindsight <command>` loads that command's module alone (the
 * Temporal worker, charts and the embedded database stay unloaded unless a command needs them).
 * A test keeps each description equal to the one its module registers.
 */
import type { Command } from 'commander';

export type Register = (program: Command, setExit: (code: number) => void) => void;

export interface CommandEntry {
  name: string;
  description: string;
  /** The module that registers it: one may register several (`run`: `worker` and `dev`). */
  module: string;
  load: () => Promise<Register>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'migrate',
    description: 'apply the numbered SQL migrations (safe to run twice)',
    module: 'migrate',
    load: async () => (await import('./commands/migrate.js')).registerMigrate,
  },
  {
    name: 'label-definition',
    description: 'store, list and show versioned label definitions',
    module: 'label-definition',
    load: async () => (await import('./commands/label-definition.js')).registerLabelDefinition,
  },
  {
    name: 'ingest',
    description: 'ingest predictions, outcomes or actions from NDJSON or CSV (plain or gzip), a file or - for stdin',
    module: 'ingest',
    load: async () => (await import('./commands/ingest.js')).registerIngest,
  },
  {
    name: 'evaluate',
    description: 'evaluate one cohort under a label definition as of a moment',
    module: 'evaluate',
    load: async () => (await import('./commands/evaluate.js')).registerEvaluate,
  },
  {
    name: 'cohort',
    description: 'start, inspect and signal cohort lifecycle workflows',
    module: 'cohort',
    load: async () => (await import('./commands/cohort.js')).registerCohort,
  },
  {
    name: 'schedule',
    description: 'Temporal Schedules that open one cohort per period (daily, weekly, \u2026)',
    module: 'schedule',
    load: async () => (await import('./commands/schedule.js')).registerSchedule,
  },
  {
    name: 'worker',
    description: 'run the Hindsight worker (workflows + activities) until Ctrl-C',
    module: 'run',
    load: async () => (await import('./commands/run.js')).registerRun,
  },
  {
    name: 'dev',
    description:
      'embedded services + worker in the foreground until Ctrl-C (PGlite unless DATABASE_URL, a Temporal dev server unless TEMPORAL_ADDRESS)',
    module: 'run',
    load: async () => (await import('./commands/run.js')).registerRun,
  },
  {
    name: 'demo',
    description:
      'the whole loop on embedded services: four worked examples, alerts, a diagnosis, a retraining request, a recalibration, a live cohort, reports (about two minutes)',
    module: 'demo',
    load: async () => (await import('./commands/demo.js')).registerDemo,
  },
  {
    name: 'setup-temporal',
    description:
      "register Hindsight's search attributes on an existing Temporal server (idempotent; the dev server Hindsight starts has them)",
    module: 'setup-temporal',
    load: async () => (await import('./commands/setup-temporal.js')).registerSetupTemporal,
  },
  {
    name: 'serve',
    description:
      'HTTP ingestion: POST /v1/predictions|outcomes|actions (JSON array or NDJSON), GET /healthz, GET /metrics (Prometheus); bearer token HINDSIGHT_API_TOKEN unless on loopback; browser origins only from HINDSIGHT_ALLOWED_ORIGINS',
    module: 'serve',
    load: async () => (await import('./commands/serve.js')).registerServe,
  },
  {
    name: 'retention',
    description: 'drop whole month partitions of predictions and outcomes older than a policy; never shorter than the label delay',
    module: 'retention',
    load: async () => (await import('./commands/retention.js')).registerRetention,
  },
  {
    name: 'export',
    description:
      'write the joined evaluation dataset of a cohort as of a moment: one row per prediction with its label, label status, deciding outcome and join path (CSV or NDJSON streamed through COPY, or Parquet in row groups of 100k rows)',
    module: 'export',
    load: async () => (await import('./commands/export.js')).registerExport,
  },
  {
    name: 'trace',
    description: 'show a prediction with every outcome that matched it or was rejected for it, and why',
    module: 'trace',
    load: async () => (await import('./commands/trace.js')).registerTrace,
  },
  {
    name: 'drift',
    description:
      'drift between a reference cohort and the current one (no labels needed): PSI and KS of scores and numeric features; ' +
      'Jensen–Shannon, chi-squared and L-infinity of categorical features and slice dimensions',
    module: 'drift',
    load: async () => (await import('./commands/drift.js')).registerDrift,
  },
  {
    name: 'latency',
    description:
      'label latency of a cohort per slice, and the share of eventual positives earlier finalized cohorts had at each checkpoint',
    module: 'latency',
    load: async () => (await import('./commands/latency.js')).registerLatency,
  },
  {
    name: 'policy',
    description: 'store, list and show versioned monitoring policies (alert rules and actions)',
    module: 'policy',
    load: async () => (await import('./commands/policy.js')).registerPolicy,
  },
  {
    name: 'alerts',
    description: 'alerts raised by monitoring policies',
    module: 'alerts',
    load: async () => (await import('./commands/alerts.js')).registerAlerts,
  },
  {
    name: 'estimate',
    description: 'label-free performance estimate (CBPE, calibrated on a reference) per chunk, with realized values and the reference band',
    module: 'estimate',
    load: async () => (await import('./commands/estimate.js')).registerEstimate,
  },
  {
    name: 'diagnose',
    description:
      "is a cohort's metric down because of the model, the labels, or both? runs the first checks against a baseline at the same maturity",
    module: 'diagnose',
    load: async () => (await import('./commands/diagnose.js')).registerDiagnose,
  },
  {
    name: 'retraining',
    description: "a model's retraining requests (made by alerts, see docs/alerts.md)",
    module: 'retraining',
    load: async () => (await import('./commands/retraining.js')).registerRetraining,
  },
  {
    name: 'calibrate',
    description: "fit, promote and apply calibrators that turn a model version's scores into probabilities",
    module: 'calibrate',
    load: async () => (await import('./commands/calibrate.js')).registerCalibrate,
  },
  {
    name: 'threshold',
    description:
      'the decision threshold that reaches a target precision or recall, or minimizes the expected cost, chosen on the training range and reported on the held-out one',
    module: 'threshold',
    load: async () => (await import('./commands/threshold.js')).registerThreshold,
  },
  {
    name: 'ope',
    description: "off-policy estimates (IPW, SNIPS, DM, DR) of a target policy's value on a cohort's logged traffic",
    module: 'ope',
    load: async () => (await import('./commands/ope.js')).registerOpe,
  },
  {
    name: 'report',
    description: 'one self-contained HTML report (charts inline, nothing fetched) of a cohort, or of a model version over a period',
    module: 'report',
    load: async () => (await import('./commands/report.js')).registerReport,
  },
];
