/**
 * The snapshots a report draws, in the order they were taken, and what both reports (a cohort's,
 * a model's) say of them: their stage, their label, the settled one, the headline row.
 */
import type { Knex } from 'knex';
import type { EvaluationDocument } from '../../contracts/evaluation';
import type { LabelDefinition } from '../../contracts/label-definition';
import { toUtcIso } from '../../contracts/utc-timestamp';
import type { BinaryMetrics } from '../../stats/finish-metrics';
import { listSnapshots } from '../evaluate/cohorts';

/** A cohort or model the report cannot draw, said so the user can pick another. */
export class ReportInputError extends Error {
  override readonly name = 'ReportInputError';
}

/** Where a snapshot stands: before the window closed, the final one, or a late-label revision of it. */
export type SnapshotStage = 'provisional' | 'final' | 'revised';

export interface ReportSnapshot {
  snapshot_id: number;
  checkpoint: string;
  revision: number;
  as_of: string;
  stage: SnapshotStage;
  overall: BinaryMetrics;
  document: EvaluationDocument;
}

/** The headline metrics of the report's tables and checkpoint chart, in this order. */
export const HEADLINE_METRICS = [
  'n',
  'n_labeled',
  'label_availability',
  'base_rate',
  'roc_auc',
  'pr_auc',
  'precision',
  'recall',
  'brier',
  'ece',
] as const;

export function snapshotStage(checkpoint: string, revision: number): SnapshotStage {
  if (checkpoint !== 'final') return 'provisional';
  return revision === 1 ? 'final' : 'revised';
}

export const snapshotLabel = (s: { checkpoint: string; revision: number }): string => `${s.checkpoint} r${s.revision}`;

/** The snapshots of a cohort in the order they were taken (as-of, then revision). */
export async function reportSnapshots(db: Knex, cohortId: string): Promise<ReportSnapshot[]> {
  const rows = await listSnapshots(db, cohortId);
  return rows
    .map((row) => ({
      snapshot_id: Number(row.snapshot_id),
      checkpoint: row.checkpoint,
      revision: row.revision,
      as_of: toUtcIso(row.as_of),
      stage: snapshotStage(row.checkpoint, row.revision),
      overall: row.document.overall as BinaryMetrics,
      document: row.document,
    }))
    .sort((a, b) => Date.parse(a.as_of) - Date.parse(b.as_of) || a.revision - b.revision);
}

/** The snapshot a cohort's settled numbers come from: the last revision of final, else the latest provisional one. */
export function settledSnapshot(snapshots: ReportSnapshot[]): ReportSnapshot | undefined {
  const finals = snapshots.filter((s) => s.checkpoint === 'final');
  if (finals.length > 0) return finals.reduce((best, s) => (s.revision > best.revision ? s : best));
  // Provisional snapshots (checkpoints, ad hoc) come in the order taken: the last is the latest.
  return snapshots.at(-1);
}

export function requireBinary(definition: LabelDefinition): void {
  if (definition.task !== 'binary') {
    throw new ReportInputError(
      `label definition ${definition.name}@${definition.version} is a ${definition.task} definition; ` +
        `a report draws reliability diagrams and threshold curves, which need a binary one`,
    );
  }
}

export function headlineRow(s: ReportSnapshot): Array<string | number | null> {
  return [snapshotLabel(s), s.stage, s.as_of, ...HEADLINE_METRICS.map((m) => s.overall[m])];
}
