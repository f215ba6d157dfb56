/**
 * The report's HTML: one page, inline CSS, inline SVG charts, nothing fetched. Every text
 * that comes from the data is escaped here, so a slice value or a rule name can't become markup.
 */

/** A chart as rendered: its id (the `data-chart` attribute tests and readers find it by) and its SVG. */
export interface RenderedChart {
  id: string;
  caption: string;
  svg: string;
}

export interface Table {
  columns: string[];
  rows: Array<Array<string | number | null>>;
  /** Row indexes drawn as alerting (a slice or a week that has a firing alert). */
  flagged?: number[];
}

export interface ReportSection {
  id: string;
  title: string;
  /** Paragraphs of plain text: what the section shows, or why it is empty. */
  notes: string[];
  charts: RenderedChart[];
  tables: Table[];
}

export interface ReportPage {
  title: string;
  subtitle: string;
  generatedAt: string;
  sections: ReportSection[];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number as a reader wants it in a table: counts whole, rates to four places, null as a dash. */
export function formatCell(value: string | number | null): string {
  if (value === null) return '—';
  if (typeof value === 'string') return value;
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}

const STYLE = `
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.subtitle { color: #555; margin-top: 0; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; }
figcaption { font-size: 0.9em; color: #555; text-align: center; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
tr.flagged td { background: #fdecea; }
p.note { color: #444; }
`;

function renderTable(table: Table): string {
  const flagged = new Set(table.flagged ?? []);
  const head = `<tr>${table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = table.rows
    .map(
      (row, i) =>
        `<tr${flagged.has(i) ? ' class="flagged"' : ''}>${row.map((cell) => `<td>${escapeHtml(formatCell(cell))}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function renderSection(section: ReportSection): string {
  const figure = (c: ReportSection['charts'][number]) =>
    `<figure class="chart" data-chart="${escapeHtml(c.id)}">\n${c.svg}\n<figcaption>${escapeHtml(c.caption)}</figcaption>\n</figure>`;
  const charts = section.charts.length === 0 ? '' : `<div class="charts">\n${section.charts.map(figure).join('\n')}\n</div>`;
  return [
    `<section id="${escapeHtml(section.id)}">`,
    `<h2>${escapeHtml(section.title)}</h2>`,
    ...section.notes.map((note) => `<p class="note">${escapeHtml(note)}</p>`),
    charts,
    ...section.tables.map(renderTable),
    '</section>',
  ]
    .filter(Boolean)
    .join('\n');
}

export function renderPage(page: ReportPage): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(page.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(page.title)}</h1>`,
    `<p class="subtitle">${escapeHtml(page.subtitle)} — generated ${escapeHtml(page.generatedAt)}</p>`,
    ...page.sections.map(renderSection),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
