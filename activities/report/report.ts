import type { Knex } from 'knex';
import { buildCohortReport } from './cohort-report';
import { renderPage } from './html';
import { buildModelReport, type ModelPeriod } from './model-report';

export { ReportInputError } from './report-snapshots';
export type { ModelPeriod } from './model-report';

export type ReportSubject = { kind: 'cohort'; cohort_id: string } | ({ kind: 'model' } & ModelPeriod);

export interface RenderedReport {
  html: string;
  /** For the default file name: the cohort id, or model-version-from-to, made file-safe. */
  slug: string;
  sections: Array<{ id: string; title: string; charts: string[] }>;
}

const fileSafe = (text: string) => text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');

/** Builds one self-contained HTML report of a cohort or of a model version over a period (docs/reports.md). */
export async function renderReport(db: Knex, subject: ReportSubject, generatedAt: string): Promise<RenderedReport> {
  let title: string;
  let subtitle: string;
  let slug: string;
  let sections;
  if (subject.kind === 'cohort') {
    const report = await buildCohortReport(db, subject.cohort_id);
    const r = report.record;
    title = `Cohort ${r.cohort_id}`;
    subtitle =
      `${r.model_name} ${r.model_version}${r.environment === null ? '' : ` in ${r.environment}`}, predictions in [${r.start}, ${r.end}), ` +
      `label definition ${r.label_definition_name}@${r.label_definition_version}`;
    slug = fileSafe(r.cohort_id);
    sections = report.sections;
  } else {
    sections = (await buildModelReport(db, subject)).sections;
    title = `Model ${subject.model_name} ${subject.model_version}`;
    subtitle = `cohorts in [${subject.from}, ${subject.to})`;
    slug = fileSafe(`${subject.model_name}-${subject.model_version}-${subject.from.slice(0, 10)}-${subject.to.slice(0, 10)}`);
  }
  return {
    html: renderPage({ title, subtitle, generatedAt, sections }),
    slug,
    sections: sections.map((s) => ({ id: s.id, title: s.title, charts: s.charts.map((c) => c.id) })),
  };
}
