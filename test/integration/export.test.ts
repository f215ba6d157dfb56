import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExportPathError, exportEvaluation } from '../../activities/evaluate/export-evaluation';
import { putLabelDefinition } from '../../activities/evaluate/label-definitions';
import { EXPORT_COLUMNS, EXPORT_COLUMN_KINDS } from '../../sql/export-evaluation';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
import { storeRows } from '../support/store-rows';
import { type LabelDefinition } from '../../contracts/label-definition';

const testDb = useTestDatabase();
const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');
const DAY = 86_400_000;
const T = Date.parse('2026-05-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const ids = Array.from({ length: 4 }, () => randomUUID()).sort();
let dir: string;
let definition: LabelDefinition;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-export-'));
  await storeRows(
    testDb.db,
    'predictions',
    ids.map((prediction_id, i) => ({
      prediction_id,
      model_name: 'churn',
      model_version: 'v3',
      environment: 'prod',
      region: 'eu',
      ts_pred: iso(T + i * 1000),
      score: 0.25 * i,
      entity_ids: { user_id: `u${i}`, note: 'has, "quotes"' },
      segment: { device: 'ios' },
    })),
  );
  await storeRows(testDb.db, 'outcomes', [
    {
      outcome_id: 'churned',
      prediction_id: ids[1],
      entity_ids: {},
      outcome_type: 'churn',
      value: 120.5,
      ts_event: iso(T + DAY),
      ts_received: iso(T + 2 * DAY),
    },
    {
      outcome_id: 'stayed',
      prediction_id: null,
      entity_ids: { user_id: 'u2' },
      outcome_type: 'renewal',
      value: 80,
      ts_event: iso(T + DAY),
      ts_received: iso(T + DAY),
    },
  ]);
  definition = (
    await putLabelDefinition(testDb.db, {
      name: 'churn-30d',
      version: 1,
      model_name: 'churn',
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['churn'],
      negative_outcome_types: ['renewal'],
      absent_means: 'unknown',
      entity_key: 'user_id',
    })
  ).definition;
});

function exportTo(file: string, asOf: string, extra: string[] = []) {
  const result = spawnSync(
    process.execPath,
    [
      BIN,
      'export',
      '--model',
      'churn',
      '--version',
      'v3',
      '--from',
      iso(T),
      '--to',
      iso(T + DAY),
      '--label-definition',
      'churn-30d',
      '--as-of',
      asOf,
      '--out',
      file,
      '--json',
      ...extra,
    ],
    { encoding: 'utf8', env: { ...process.env, DATABASE_URL: testDb.url } },
  );
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as { rows: number; format: string };
}

/** RFC 4180: quoted fields may hold commas, quotes ("") and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  return rows;
}

describe('hindsight export', () => {
  it('writes one CSV row per prediction with label, label status, deciding outcome and join path', async () => {
    const file = path.join(dir, 'cohort.csv');
    expect(exportTo(file, iso(T + 40 * DAY))).toMatchObject({ rows: 4, format: 'csv' });
    const [header, ...rows] = parseCsv(await readFile(file, 'utf8'));
    expect(header).toEqual([...EXPORT_COLUMNS]);
    // Objects as PostgreSQL writes jsonb (docs/join-semantics.md, "Export, trace, latency").
    const entity = (i: number) => `{"note": "has, \\"quotes\\"", "user_id": "u${i}"}`;
    const pick = (row: string[]) =>
      Object.fromEntries(
        ['prediction_id', 'label', 'label_status', 'outcome_id', 'join_path', 'outcome_value', 'entity_ids'].map((column) => [
          column,
          row[header!.indexOf(column)],
        ]),
      );
    expect(rows.map(pick)).toEqual([
      {
        prediction_id: ids[0],
        label: '',
        label_status: 'unlabeled',
        outcome_id: '',
        join_path: '',
        outcome_value: '',
        entity_ids: entity(0),
      },
      {
        prediction_id: ids[1],
        label: '1',
        label_status: 'final',
        outcome_id: 'churned',
        join_path: 'by_prediction_id',
        outcome_value: '120.5',
        entity_ids: entity(1),
      },
      {
        prediction_id: ids[2],
        label: '0',
        label_status: 'final',
        outcome_id: 'stayed',
        join_path: 'by_entity_window',
        outcome_value: '80',
        entity_ids: entity(2),
      },
      {
        prediction_id: ids[3],
        label: '',
        label_status: 'unlabeled',
        outcome_id: '',
        join_path: '',
        outcome_value: '',
        entity_ids: entity(3),
      },
    ]);
  });

  it('writes NDJSON with provisional labels before the window ends and only what was received by as-of', async () => {
    const file = path.join(dir, 'cohort.ndjson');
    const cohort = { model_name: 'churn', model_version: 'v3', environment: null, start: iso(T), end: iso(T + DAY) };
    expect(
      await exportEvaluation(testDb.db, { cohort, definition, asOf: iso(T + DAY + 3600_000), out: file, format: 'ndjson' }),
    ).toMatchObject({ rows: 4, format: 'ndjson' });
    const rows = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows.map((row) => [row.label, row.label_status, row.outcome_id])).toEqual([
      [null, 'unlabeled', null],
      [null, 'unlabeled', null],
      [0, 'provisional', 'stayed'],
      [null, 'unlabeled', null],
    ]);
    expect(Object.keys(rows[0])).toEqual([...EXPORT_COLUMNS]);
  });

  it('writes the same bytes row by row (the embedded database, which has no COPY TO STDOUT) as through COPY', async () => {
    // Values whose text takes care: an empty string (quoted, unlike NULL), a line break, a
    // score PostgreSQL writes in exponent form, milliseconds.
    await storeRows(testDb.db, 'predictions', [
      {
        prediction_id: randomUUID(),
        model_name: 'churn',
        model_version: 'v9',
        environment: '',
        region: 'north\nwest',
        ts_pred: iso(T + 123),
        score: 1e-7,
        entity_ids: { user_id: 'u9', é: 'ü' },
        segment: { device: 'a,b' },
      },
    ]);
    const cohort = { model_name: 'churn', model_version: 'v9', environment: null, start: iso(T), end: iso(T + DAY) };
    for (const format of ['csv', 'ndjson'] as const) {
      const copied = path.join(dir, `copy.${format}`);
      const byRow = path.join(dir, `rows.${format}`);
      await exportEvaluation(testDb.db, { cohort, definition, asOf: iso(T + 40 * DAY), out: copied, format, transport: 'copy' });
      expect(
        await exportEvaluation(testDb.db, { cohort, definition, asOf: iso(T + 40 * DAY), out: byRow, format, transport: 'rows' }),
      ).toMatchObject({ rows: 1 });
      expect(await readFile(byRow, 'utf8')).toBe(await readFile(copied, 'utf8'));
    }
    const [header, row] = parseCsv(await readFile(path.join(dir, 'copy.csv'), 'utf8'));
    const field = (column: string) => row![header!.indexOf(column)];
    expect([field('environment'), field('region'), field('score'), field('ts_pred')]).toEqual(['', 'north\nwest', '1e-07', iso(T + 123)]);
    expect(await readFile(path.join(dir, 'copy.csv'), 'utf8')).toContain(',"",');
    const line = JSON.parse((await readFile(path.join(dir, 'copy.ndjson'), 'utf8')).trim());
    expect(line).toMatchObject({
      environment: '',
      region: 'north\nwest',
      score: 1e-7,
      ts_pred: iso(T + 123),
      entity_ids: { user_id: 'u9', é: 'ü' },
      segment: { device: 'a,b' },
    });
  });

  it('writes Parquet with the CSV columns in order, each value typed and equal to the NDJSON export, jsonb text as the CSV has it', async () => {
    // A second cohort whose values take care: an empty string, a line break, a score in
    // exponent form, milliseconds, non-ASCII object keys, a null threshold and decision.
    await storeRows(testDb.db, 'predictions', [
      {
        prediction_id: randomUUID(),
        model_name: 'churn',
        model_version: 'v8',
        environment: '',
        region: 'north\nwest',
        ts_pred: iso(T + 123),
        score: 1e-7,
        entity_ids: { user_id: 'u8', é: 'ü' },
        segment: { device: 'a,b' },
      },
      {
        prediction_id: ids[0]!.replace(/^.{8}/, '88888888'),
        model_name: 'churn',
        model_version: 'v8',
        environment: 'prod',
        region: null,
        ts_pred: iso(T + 2 * DAY - 1),
        score: 0.75,
        threshold: 0.3,
        decision: 'block',
        entity_ids: {},
        segment: {},
      },
    ]);
    const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import('hyparquet');
    const asOf = iso(T + 40 * DAY);
    const cohorts = [
      { rows: 4, cohort: { model_name: 'churn', model_version: 'v3', environment: null, start: iso(T), end: iso(T + DAY) } },
      { rows: 2, cohort: { model_name: 'churn', model_version: 'v8', environment: null, start: iso(T), end: iso(T + 3 * DAY) } },
      { rows: 0, cohort: { model_name: 'churn', model_version: 'none', environment: null, start: iso(T), end: iso(T + DAY) } },
    ];
    for (const [c, { rows, cohort }] of cohorts.entries()) {
      const files = {
        parquet: path.join(dir, `typed-${c}.parquet`),
        csv: path.join(dir, `typed-${c}.csv`),
        ndjson: path.join(dir, `typed-${c}.ndjson`),
      };
      for (const format of ['parquet', 'csv', 'ndjson'] as const) {
        await exportEvaluation(testDb.db, { cohort, definition, asOf, out: files[format], format });
      }
      const file = await asyncBufferFromFile(files.parquet);
      expect((await parquetMetadataAsync(file)).schema.slice(1).map((element) => element.name)).toEqual([...EXPORT_COLUMNS]);
      const parquetRows = await parquetReadObjects({ file });
      const ndjsonRows = (await readFile(files.ndjson, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const [, ...csvRows] = parseCsv(await readFile(files.csv, 'utf8'));
      expect(parquetRows).toHaveLength(rows);
      // In the NDJSON's terms: timestamps as ISO text, jsonb parsed; every other value as is.
      const asNdjson = parquetRows.map((row) =>
        Object.fromEntries(
          EXPORT_COLUMNS.map((column) => {
            const value = row[column] as unknown;
            if (value === null) return [column, null];
            if (EXPORT_COLUMN_KINDS[column] === 'timestamp') return [column, (value as Date).toISOString()];
            return [column, EXPORT_COLUMN_KINDS[column] === 'json' ? JSON.parse(value as string) : value];
          }),
        ),
      );
      expect(asNdjson).toEqual(ndjsonRows);
      const jsonColumns = EXPORT_COLUMNS.filter((column) => EXPORT_COLUMN_KINDS[column] === 'json');
      expect(parquetRows.map((row) => jsonColumns.map((column) => row[column]))).toEqual(
        csvRows.map((row) => jsonColumns.map((column) => row[EXPORT_COLUMNS.indexOf(column)])),
      );
    }
    // The command line picks Parquet from the extension and writes the same file.
    const cliFile = path.join(dir, 'cli.parquet');
    expect(exportTo(cliFile, asOf)).toMatchObject({ rows: 4, format: 'parquet' });
    expect((await readFile(cliFile)).equals(await readFile(path.join(dir, 'typed-0.parquet')))).toBe(true);
  });

  it('refuses an --out it cannot write (exit 2, naming the path) before any transaction opens, and an --as-of before the cohort', async () => {
    const exportArgs = (out: string, asOf: string) => [
      'export',
      '--model',
      'churn',
      '--version',
      'v3',
      '--from',
      iso(T),
      '--to',
      iso(T + DAY),
      '--label-definition',
      'churn-30d',
      '--as-of',
      asOf,
      '--out',
      out,
    ];
    const run = (out: string, asOf = iso(T + 40 * DAY)) => runHindsightInProcess(exportArgs(out, asOf), { DATABASE_URL: testDb.url });
    const openTransactions = async () =>
      Number(
        (
          await testDb.db.raw(
            `select count(*) as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`,
          )
        ).rows[0].n,
      );
    const missing = path.join(dir, 'no', 'such', 'dir');
    for (const name of ['x.csv', 'x.ndjson', 'x.parquet']) {
      const refused = await run(path.join(missing, name));
      expect(refused.code, name).toBe(2);
      expect(refused.stderr).toBe(`hindsight: export: --out ${path.join(missing, name)}: the directory ${missing} does not exist\n`);
    }
    const directory = await run(dir);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toContain(`${dir} is a directory; give a file name`);
    // The activity checks too, before its transaction.
    const cohort = { model_name: 'churn', model_version: 'v3', environment: null, start: iso(T), end: iso(T + DAY) };
    await expect(
      exportEvaluation(testDb.db, { cohort, definition, asOf: iso(T + DAY), out: path.join(missing, 'y.csv'), format: 'csv' }),
    ).rejects.toThrow(ExportPathError);
    expect(await openTransactions()).toBe(0);

    const early = await run(path.join(dir, 'early.csv'), iso(T - DAY));
    expect(early.code).toBe(2);
    expect(early.stderr).toContain(`export: --as-of ${iso(T - DAY)} is before the cohort's start ${iso(T)}`);
    const partial = await run(path.join(dir, 'partial.csv'), iso(T + DAY / 2));
    expect(partial.code).toBe(0);
    expect(partial.stderr).toContain(
      `is before the cohort's end ${iso(T + DAY)}: only outcomes received by then count, so the numbers are partial`,
    );
  });
});
