/**
 * The joined evaluation dataset of one cohort as of a moment: one row per prediction with
 * its label, label status, deciding outcome and join path (reconstruct from the
 * logs alone). Reads `hs_matches` (see ./join-outcomes) and labels through the same
 * {@link LABEL_COLUMNS} as the evaluation, so an export row and a metric agree by construction.
 * PostgreSQL writes the file's bytes itself: {@link copyCsv} / {@link copyNdjson}.
 */
import { COHORT_PREDICTIONS, DECIDING, LABEL_COLUMNS } from './join-outcomes';

/** Column order of the CSV export (and key order of the NDJSON one, column order of the Parquet one). */
export const EXPORT_COLUMNS = [
  'prediction_id',
  'model_name',
  'model_version',
  'environment',
  'region',
  'segment',
  'entity_ids',
  'request_id',
  'item_id',
  'ts_pred',
  'score',
  'threshold',
  'decision',
  'label',
  'label_status',
  'outcome_id',
  'join_path',
  'outcome_type',
  'outcome_value',
  'outcome_ts_event',
  'outcome_ts_received',
] as const;
export type ExportColumn = (typeof EXPORT_COLUMNS)[number];

/**
 * What each exported column holds, as PostgreSQL types it (`label` is float8: the case of
 * an integer label and a float8 target). `text` includes the uuid `prediction_id`, which
 * every format writes in its text form.
 */
export const EXPORT_COLUMN_KINDS: Record<ExportColumn, 'text' | 'json' | 'float8' | 'timestamp'> = {
  prediction_id: 'text',
  model_name: 'text',
  model_version: 'text',
  environment: 'text',
  region: 'text',
  segment: 'json',
  entity_ids: 'json',
  request_id: 'text',
  item_id: 'text',
  ts_pred: 'timestamp',
  score: 'float8',
  threshold: 'float8',
  decision: 'text',
  label: 'float8',
  label_status: 'text',
  outcome_id: 'text',
  join_path: 'text',
  outcome_type: 'text',
  outcome_value: 'float8',
  outcome_ts_event: 'timestamp',
  outcome_ts_received: 'timestamp',
};

const JOINED_ROWS = `
with deciding as (${DECIDING}),
rows as (
  select p.prediction_id, p.model_name, p.model_version, p.environment, p.region, p.segment, p.entity_ids,
         p.request_id, p.item_id, p.ts_pred, p.score,
         coalesce(p.threshold, :default_threshold::float8) as threshold, p.decision,
         ${LABEL_COLUMNS},
         d.outcome_id, d.path as join_path, d.outcome_type, d.ts_event as outcome_ts_event,
         d.ts_received as outcome_ts_received
  from ${COHORT_PREDICTIONS} p left join deciding d on d.prediction_id = p.prediction_id
)
select prediction_id, model_name, model_version, environment, region, segment, entity_ids, request_id, item_id,
       ts_pred, score, threshold, decision,
       case when :regression::boolean then target else y end as label,
       case when is_final then 'final'
            when target is not null or y is not null then 'provisional'
            else 'unlabeled' end as label_status,
       outcome_id, join_path, outcome_type, outcome_value, outcome_ts_event, outcome_ts_received
from rows`;

/** UTC ISO-8601 with milliseconds, as JavaScript's toISOString writes it. */
const isoTimestamp = (column: string) => `to_char(e.${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ${column}`;

/** Milliseconds since the epoch, truncated like the ISO text's `.MS` (extract is exact numeric). */
const epochMilliseconds = (column: string) => `floor(extract(epoch from e.${column}) * 1000)::int8 as ${column}`;

/**
 * How {@link exportRows} hands each value over:
 * - `copy`: timestamps as ISO text, every other value as PostgreSQL writes its type
 *   (numbers the shortest text that reads back exactly, objects as jsonb text): COPY's bytes;
 * - `text`: the same, every column cast to text: what the row-by-row CSV writer (for a
 *   server without COPY TO STDOUT) quotes itself;
 * - `parquet`: timestamps as epoch milliseconds (int8), jsonb as its text, numbers as float8.
 */
export type ExportValues = 'copy' | 'text' | 'parquet';

/** The export's rows in export order, each value in the form `values` names. */
export function exportRows(values: ExportValues = 'copy'): string {
  const columns = EXPORT_COLUMNS.map((column) => {
    const kind = EXPORT_COLUMN_KINDS[column];
    if (kind === 'timestamp') return values === 'parquet' ? epochMilliseconds(column) : isoTimestamp(column);
    return values === 'text' || (values === 'parquet' && kind === 'json') ? `e.${column}::text as ${column}` : `e.${column}`;
  });
  return `select ${columns.join(', ')} from (${JOINED_ROWS}) e order by e.ts_pred, e.prediction_id`;
}

/** One JSON object per row (of {@link exportRows}), keys in {@link EXPORT_COLUMNS} order. */
export function ndjsonLines(rows: string): string {
  return `select row_to_json(r)::text as line from (${rows}) r`;
}

/** CSV (RFC 4180) with a header line: NULL is an empty field, an empty string is `""`. */
export function copyCsv(rows: string): string {
  return `copy (${rows}) to stdout with (format csv, header true)`;
}

/**
 * NDJSON through COPY: CSV mode with a delimiter and a quote character (0x01, 0x02) that
 * PostgreSQL's JSON text never holds (it escapes every control character), so each line is
 * the JSON object exactly; the text format would double its backslashes.
 */
export function copyNdjson(rows: string): string {
  return `copy (${ndjsonLines(rows)}) to stdout with (format csv, delimiter e'\\x01', quote e'\\x02')`;
}
