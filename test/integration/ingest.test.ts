import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeFailure } from '../../sql/failure-message';
import { ingestFile, ingestNdjsonFile } from '../../activities/ingest/ingest-records';
import { createDatabase } from '../../workers/database';
import { useTestDatabase } from '../support/database';

const testDb = useTestDatabase();
const ROOT = path.resolve(__dirname, '..', '..');
let dir: string;

/** Newest modification time of the TypeScript the command line is compiled from. */
async function newestSourceTime(): Promise<number> {
  let newest = 0;
  for (const folder of ['activities', 'cli', 'sql', 'workers', 'workflows']) {
    for (const entry of await readdir(path.join(ROOT, folder), { recursive: true })) {
      if (entry.endsWith('.ts')) newest = Math.max(newest, (await stat(path.join(ROOT, folder, entry))).mtimeMs);
    }
  }
  return newest;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-ingest-'));
  // The command line runs from dist/: compile it (when stale) so the spawned CLI is this code.
  const built = await stat(path.join(ROOT, 'dist', 'cli', 'hindsight.js')).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  if (built < (await newestSourceTime())) await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT });
});

function prediction(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    prediction_id: randomUUID(),
    model_name: 'fraud',
    model_version: '1.0',
    ts_pred: '2026-11-01T10:00:00Z',
    score: 0.5,
    ...overrides,
  };
}

async function writeLines(name: string, lines: Array<Record<string, unknown> | string>): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n') + '\n');
  return file;
}

function runCli(args: string[], input?: Buffer): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'hindsight.js'), ...args], {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: testDb.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

async function countPredictions(ids: string[]): Promise<number> {
  const [row] = await testDb.db('predictions').whereIn('prediction_id', ids).count<{ count: number }[]>({ count: '*' });
  return row!.count;
}

describe('hindsight ingest (the command line)', () => {
  it('stores lines 1 and 6, reports exactly lines 2-5 and exits 1 when lines 2-5 are bad', async () => {
    testDb.keepOnFailure();
    const first = prediction();
    const last = prediction();
    const file = await writeLines('bad-middle.ndjson', [
      first,
      prediction({ ts_pred: '2026-11-01T10:00:00' }),
      prediction({ score: '0.7' }),
      '{"prediction_id": "broken", "score": ',
      prediction({ prediction_id: undefined }),
      last,
    ]);
    const run = await runCli(['ingest', 'predictions', file, '--json']);
    expect(run.code).toBe(1);
    const document = JSON.parse(run.stdout);
    expect(document).toMatchObject({ accepted: 2, duplicates: 0, conflicts: 0 });
    expect(document.rejected.map((r: { line: number; field: string | null }) => [r.line, r.field])).toEqual([
      [2, 'ts_pred'],
      [3, 'score'],
      [4, null],
      [5, 'prediction_id'],
    ]);
    expect(await countPredictions([first.prediction_id as string, last.prediction_id as string])).toBe(2);
    const rejects = (await readFile(`${file}.rejects.ndjson`, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rejects.map((r) => r.line)).toEqual([2, 3, 4, 5]);
    expect(rejects[2].input).toBe('{"prediction_id": "broken", "score": ');
  });

  it('counts every line as a duplicate on re-ingest, exits 0, and stores each id once', async () => {
    const records = [prediction(), prediction(), prediction()];
    const file = await writeLines('clean.ndjson', records);
    const first = await runCli(['ingest', 'predictions', file, '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ accepted: 3, duplicates: 0, conflicts: 0, rejected: [] });
    const again = await runCli(['ingest', 'predictions', file, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ accepted: 0, duplicates: 3, conflicts: 0, rejected: [] });
    expect(await countPredictions(records.map((r) => r.prediction_id as string))).toBe(3);
    expect(existsSync(`${file}.rejects.ndjson`)).toBe(false);
  });

  it('reads gzip from standard input with -', async () => {
    const records = [prediction(), prediction()];
    const body = gzipSync(records.map((r) => JSON.stringify(r)).join('\n'));
    const run = await runCli(['ingest', 'predictions', '-', '--json'], body);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ accepted: 2 });
  });

  it('exits 2 with a message on a usage error or a missing file', async () => {
    const wrongKind = await runCli(['ingest', 'labels', 'x.ndjson']);
    expect(wrongKind.code).toBe(2);
    expect(wrongKind.stderr).toMatch(/kind must be one of predictions, outcomes, actions/);
    const missing = await runCli(['ingest', 'predictions', path.join(dir, 'nope.ndjson')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
  });

  it('stores every record once when two hindsight processes ingest one file at the same time', async () => {
    const records = Array.from({ length: 300 }, () => prediction());
    const file = await writeLines('two-processes.ndjson', records);
    const runs = await Promise.all([runCli(['ingest', 'predictions', file, '--json']), runCli(['ingest', 'predictions', file, '--json'])]);
    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    const [a, b] = runs.map((run) => JSON.parse(run.stdout));
    expect(a.accepted + b.accepted).toBe(300);
    expect(a.duplicates + b.duplicates).toBe(300);
    expect(await countPredictions(records.map((r) => r.prediction_id as string))).toBe(300);
  });

  it('exits 1 when a line conflicts with a stored record', async () => {
    const original = prediction();
    await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('original.ndjson', [original]));
    const changed = await writeLines('changed.ndjson', [{ ...original, score: 0.99 }]);
    const run = await runCli(['ingest', 'predictions', changed, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ accepted: 0, conflicts: 1, conflicted: [{ line: 1, id: original.prediction_id }] });
    const rejects = JSON.parse(await readFile(`${changed}.rejects.ndjson`, 'utf8'));
    expect(rejects).toMatchObject({ line: 1, field: 'prediction_id' });
    expect(rejects.error).toMatch(/^conflict: prediction_id .* the stored original was kept$/);
  });
});

describe('identity rules', () => {
  it('stores an exact duplicate within a file once and counts it as a duplicate', async () => {
    const record = prediction();
    const result = await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('dup-within.ndjson', [record, prediction(), record]));
    expect(result).toMatchObject({ accepted: 2, duplicates: 1, conflicts: 0 });
    expect(await countPredictions([record.prediction_id as string])).toBe(1);
  });

  it('reports a conflict within a file by line and keeps the first line', async () => {
    const record = prediction({ score: 0.1 });
    const result = await ingestNdjsonFile(
      testDb.db,
      'predictions',
      await writeLines('conflict-within.ndjson', [record, { ...record, score: 0.2 }]),
    );
    expect(result).toMatchObject({ accepted: 1, duplicates: 0, conflicts: 1, conflicted: [{ line: 2, id: record.prediction_id }] });
    const stored = await testDb.db('predictions').where({ prediction_id: record.prediction_id }).first('score');
    expect(stored.score).toBe(0.1);
  });

  it('counts duplicates and conflicts across files and across chunk boundaries, keeping the original', async () => {
    const records = Array.from({ length: 10 }, (_, i) => prediction({ score: i / 10 }));
    const firstFile = await writeLines('across-1.ndjson', records);
    expect(await ingestNdjsonFile(testDb.db, 'predictions', firstFile, { chunkRows: 3 })).toMatchObject({
      accepted: 10,
      duplicates: 0,
      conflicts: 0,
    });
    const second = [...records.slice(0, 5), { ...records[5]!, score: 0.55 }, records[0]!, prediction()];
    const result = await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('across-2.ndjson', second), { chunkRows: 3 });
    expect(result).toMatchObject({ accepted: 1, duplicates: 6, conflicts: 1, conflicted: [{ line: 6, id: records[5]!.prediction_id }] });
    const stored = await testDb.db('predictions').where({ prediction_id: records[5]!.prediction_id }).first('score');
    expect(stored.score).toBe(0.5);
  });

  it('treats the same record with keys reordered and an explicit null as a duplicate', async () => {
    const record = prediction({ entity_ids: { transaction_id: 't1', user_id: 'u1' } });
    await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('same-1.ndjson', [record]));
    const reordered = { entity_ids: { user_id: 'u1', transaction_id: 't1' }, threshold: null, ...record };
    expect(await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('same-2.ndjson', [reordered]))).toMatchObject({
      duplicates: 1,
      conflicts: 0,
    });
  });

  it('stores every record once when two ingests of one file run concurrently', async () => {
    testDb.keepOnFailure();
    const records = Array.from({ length: 600 }, (_, i) => prediction({ ts_pred: `2026-${i % 2 === 0 ? '09' : '10'}-15T00:00:00Z` }));
    const file = await writeLines('concurrent.ndjson', records);
    const other = createDatabase(testDb.url);
    try {
      const [a, b] = await Promise.all([
        ingestNdjsonFile(testDb.db, 'predictions', file, { chunkRows: 50, rejectsPath: path.join(dir, 'a.rejects') }),
        ingestNdjsonFile(other, 'predictions', file, { chunkRows: 50, rejectsPath: path.join(dir, 'b.rejects') }),
      ]);
      expect(a.accepted + b.accepted).toBe(600);
      expect(a.duplicates + b.duplicates).toBe(600);
      expect(a.conflicts + b.conflicts).toBe(0);
    } finally {
      await other.destroy();
    }
    expect(await countPredictions(records.map((r) => r.prediction_id as string))).toBe(600);
    const [keys] = await testDb.db
      .raw('select count(*)::int as n from prediction_keys where prediction_id = any(?::uuid[])', [records.map((r) => r.prediction_id)])
      .then((r) => r.rows);
    expect(keys.n).toBe(600);
  });

  it('keeps prediction_id unique for plain inserts too, through the key table', async () => {
    const id = randomUUID();
    const row = { prediction_id: id, model_name: 'm', model_version: '1', ts_pred: '2026-05-01T00:00:00Z', score: 0.5, content_hash: 'x' };
    await testDb.db('predictions').insert(row);
    await expect(testDb.db('predictions').insert({ ...row, ts_pred: '2026-06-01T00:00:00Z' })).rejects.toThrow(/prediction_keys_pkey/);
  });
});

describe('formats and encodings', () => {
  it('ingests CSV with quoting and dotted columns into nested objects', async () => {
    const id = randomUUID();
    const file = path.join(dir, 'predictions.csv');
    await writeFile(
      file,
      'prediction_id,model_name,model_version,ts_pred,score,entity_ids.transaction_id,segment.device,features.amount,note\n' +
        `${id},"fraud, ""v2""",1.0,2026-11-01T10:00:00+01:00,0.25,t-1,"ios\nbeta",12.5,hello\n`,
    );
    const result = await ingestFile(testDb.db, 'predictions', file);
    expect(result).toMatchObject({ accepted: 1, rejected: [], unknown_fields: [{ field: 'note', count: 1, first_line: 2 }] });
    const stored = await testDb.db('predictions').where({ prediction_id: id }).first();
    expect(stored).toMatchObject({
      model_name: 'fraud, "v2"',
      score: 0.25,
      entity_ids: { transaction_id: 't-1' },
      segment: { device: 'ios\nbeta' },
      features: { amount: 12.5 },
      extra: { note: 'hello' },
    });
    expect((stored.ts_pred as Date).toISOString()).toBe('2026-11-01T09:00:00.000Z');
  });

  it('detects gzip by its magic bytes whatever the file is called', async () => {
    const records = [prediction(), prediction()];
    const file = path.join(dir, 'looks-plain.ndjson');
    await writeFile(file, gzipSync(records.map((r) => JSON.stringify(r)).join('\n')));
    expect(await ingestFile(testDb.db, 'predictions', file)).toMatchObject({ accepted: 2, rejected: [] });
    const csv = path.join(dir, 'gz.csv.gz');
    const id = randomUUID();
    await writeFile(csv, gzipSync(`prediction_id,model_name,model_version,ts_pred,score\n${id},m,1,2026-11-01T00:00:00Z,0.1\n`));
    expect(await ingestFile(testDb.db, 'predictions', csv)).toMatchObject({ accepted: 1, rejected: [] });
  });

  it('accepts an empty file with all counts zero and no rejects file', async () => {
    const file = path.join(dir, 'empty.ndjson');
    await writeFile(file, '');
    expect(await ingestFile(testDb.db, 'predictions', file)).toMatchObject({
      accepted: 0,
      duplicates: 0,
      conflicts: 0,
      rejected: [],
      rejects_file: null,
    });
  });

  it('ignores a byte-order mark at the start of NDJSON and CSV', async () => {
    const ndjson = path.join(dir, 'bom.ndjson');
    await writeFile(ndjson, `\uFEFF${JSON.stringify(prediction())}\n`);
    expect(await ingestFile(testDb.db, 'predictions', ndjson)).toMatchObject({ accepted: 1, rejected: [] });
    const csv = path.join(dir, 'bom.csv');
    await writeFile(csv, `\uFEFFprediction_id,model_name,model_version,ts_pred,score\n${randomUUID()},m,1,2026-11-01T00:00:00Z,0.1\n`);
    expect(await ingestFile(testDb.db, 'predictions', csv)).toMatchObject({ accepted: 1, rejected: [] });
  });

  it('rejects an unknown schema_version and keeps and reports unknown fields, by line', async () => {
    const future = prediction({ schema_version: 2 });
    const extra = prediction({ colour: 'red', scroe: 0.4 });
    const result = await ingestNdjsonFile(
      testDb.db,
      'predictions',
      await writeLines('versions.ndjson', [future, extra, prediction({ colour: 'blue' })]),
    );
    expect(result).toMatchObject({
      accepted: 2,
      rejected: [{ line: 1, field: 'schema_version' }],
      unknown_fields: [
        { field: 'colour', count: 2, first_line: 2 },
        { field: 'scroe', count: 1, first_line: 2 },
      ],
    });
    const stored = await testDb.db('predictions').where({ prediction_id: extra.prediction_id }).first('extra');
    expect(stored.extra).toEqual({ colour: 'red', scroe: 0.4 });
  });

  it('reports a CSV row with an unclosed quote by line and stores the rows before it', async () => {
    const id = randomUUID();
    const file = path.join(dir, 'unclosed.csv');
    await writeFile(
      file,
      `prediction_id,model_name,model_version,ts_pred,score\n${id},m,1,2026-11-01T00:00:00Z,0.1\n${randomUUID()},"m,1,2026-11-01T00:00:00Z,0.2\n`,
    );
    const result = await ingestFile(testDb.db, 'predictions', file);
    expect(result).toMatchObject({ accepted: 1, rejected: [{ line: 3, field: null }] });
    expect(result.rejected[0]!.error).toMatch(/^malformed CSV/);
  });

  it('rejects a record with a NUL character instead of failing the whole chunk', async () => {
    const good = prediction();
    const result = await ingestNdjsonFile(
      testDb.db,
      'predictions',
      await writeLines('nul.ndjson', [prediction({ model_name: 'a\u0000b' }), good]),
    );
    expect(result).toMatchObject({ accepted: 1, rejected: [{ line: 1 }] });
  });
});

describe('staging without COPY (the embedded PGlite path)', () => {
  it('stores the same rows, escapes intact, through bound inserts', async () => {
    const tricky = prediction({ model_name: 'tab\there\nnew\\line', segment: { device: 'a"b' }, features: { note: '\\N' } });
    const file = await writeLines('insert-path.ndjson', [tricky, prediction(), tricky]);
    expect(await ingestNdjsonFile(testDb.db, 'predictions', file, { staging: 'insert', chunkRows: 2 })).toMatchObject({
      accepted: 2,
      duplicates: 1,
      conflicts: 0,
    });
    const stored = await testDb.db('predictions').where({ prediction_id: tricky.prediction_id }).first();
    expect(stored).toMatchObject({ model_name: 'tab\there\nnew\\line', segment: { device: 'a"b' }, features: { note: '\\N' } });
  });
});

describe('outcomes, actions and partitions', () => {
  it('creates month partitions on demand and routes rows by ts_pred and ts_event', async () => {
    await ingestNdjsonFile(
      testDb.db,
      'predictions',
      await writeLines('months.ndjson', [prediction({ ts_pred: '2025-03-31T23:30:00-02:00' })]),
    );
    const outcome = {
      outcome_id: `o-${randomUUID()}`,
      prediction_id: randomUUID(),
      outcome_type: 'chargeback',
      ts_event: '2025-07-04T00:00:00Z',
    };
    await ingestNdjsonFile(testDb.db, 'outcomes', await writeLines('months-o.ndjson', [outcome]));
    const partitions = (
      await testDb.db.raw(`select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
      where p.relname in ('predictions', 'outcomes') order by 1`)
    ).rows.map((r: { relname: string }) => r.relname);
    expect(partitions).toEqual(expect.arrayContaining(['predictions_2025_04', 'outcomes_2025_07']));
    const [{ relname }] = (
      await testDb.db.raw('select tableoid::regclass::text as relname from outcomes where outcome_id = ?', [outcome.outcome_id])
    ).rows;
    expect(relname).toBe('outcomes_2025_07');
  });

  it('leaves a month it bulk-loaded analyzed (planner statistics of the columns plans read, not the feature payload)', async () => {
    const statistics = async (partition: string) =>
      (
        await testDb.db.raw(
          `select c.reltuples, s.last_analyze is not null as analyzed from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.relname = ?`,
          [partition],
        )
      ).rows[0];
    const bulk = Array.from({ length: 12_000 }, (_, i) =>
      prediction({ ts_pred: new Date(Date.parse('2024-02-01T00:00:00Z') + i * 1000).toISOString(), features: { amount: i } }),
    );
    await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('bulk-month.ndjson', bulk));
    expect(await statistics('predictions_2024_02')).toEqual({ reltuples: 12_000, analyzed: true });
    // The columns plans read get statistics; the payloads nothing filters on are not sampled.
    const analyzedColumns = (await testDb.db.raw("select attname from pg_stats where tablename = 'predictions_2024_02'")).rows.map(
      (r: { attname: string }) => r.attname,
    );
    expect(analyzedColumns).toEqual(
      expect.arrayContaining(['model_name', 'model_version', 'environment', 'ts_pred', 'score', 'entity_ids']),
    );
    expect(analyzedColumns).not.toContain('features');
  });

  it('fills ts_received with the ingestion time, rejects an outcome received before it happened, and dedupes outcome_id', async () => {
    const before = Date.now();
    const base = { prediction_id: randomUUID(), outcome_type: 'chargeback', ts_event: '2026-11-02T00:00:00Z' };
    const defaulted = { ...base, outcome_id: `o-${randomUUID()}` };
    const lines = [defaulted, { ...base, outcome_id: `o-${randomUUID()}`, ts_received: '2026-11-01T00:00:00Z' }, defaulted];
    const result = await ingestNdjsonFile(testDb.db, 'outcomes', await writeLines('outcomes.ndjson', lines));
    expect(result).toMatchObject({ accepted: 1, duplicates: 1, rejected: [{ line: 2, field: 'ts_received' }] });
    const stored = await testDb.db('outcomes').where({ outcome_id: defaulted.outcome_id }).first('ts_received');
    expect((stored.ts_received as Date).getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect((stored.ts_received as Date).getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('identifies actions by prediction, action and time: duplicates and conflicts', async () => {
    const action = { prediction_id: randomUUID(), action: 'block', ts_action: '2026-11-01T10:00:01Z', propensity: 0.8 };
    const result = await ingestNdjsonFile(
      testDb.db,
      'actions',
      await writeLines('actions.ndjson', [action, action, { ...action, propensity: 0.3 }]),
    );
    expect(result).toMatchObject({ accepted: 1, duplicates: 1, conflicts: 1, conflicted: [{ line: 3 }] });
  });
});

describe('hostile input: rejected per line with the field named, the rest stored', () => {
  it('rejects a line of 100,000 nested arrays in features without overflowing the stack', async () => {
    const good = prediction();
    const deep = `{"prediction_id":"${randomUUID()}","model_name":"m","model_version":"1","ts_pred":"2026-11-01T10:00:00Z","score":0.5,"features":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const result = await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('deep.ndjson', [deep, good]));
    expect(result).toMatchObject({
      accepted: 1,
      rejected_count: 1,
      rejected: [{ line: 1, error: expect.stringMatching(/nested deeper than 32 levels/) }],
    });
    expect(result.rejected[0]!.field).toBe('features');
    expect(await countPredictions([good.prediction_id as string])).toBe(1);
  });

  it('rejects NUL and unpaired surrogates in jsonb keys and values by field instead of failing the chunk', async () => {
    const good = prediction();
    const lines = [
      `{"prediction_id":"${randomUUID()}","model_name":"m","model_version":"1","ts_pred":"2026-11-01T10:00:00Z","score":0.5,"features":{"a\\u0000":1}}`,
      `{"prediction_id":"${randomUUID()}","model_name":"m","model_version":"1","ts_pred":"2026-11-01T10:00:00Z","score":0.5,"segment":{"device":"\\ud800"}}`,
      `{"prediction_id":"${randomUUID()}","model_name":"m","model_version":"1","ts_pred":"2026-11-01T10:00:00Z","score":0.5,"colour":"\\udfff"}`,
      good,
    ];
    const result = await ingestNdjsonFile(testDb.db, 'predictions', await writeLines('nul-jsonb.ndjson', lines));
    expect(result).toMatchObject({
      accepted: 1,
      rejected: [
        { line: 1, field: 'features' },
        { line: 2, field: 'segment.device' },
        { line: 3, field: 'colour' },
      ],
    });
  });

  it('rejects a line that is not UTF-8 and stores the others exactly as sent', async () => {
    const good = prediction({ model_name: 'café ☕ \uFFFD' });
    // "fraud" spelled with a latin1 é (one 0xe9 byte) in place of the a: valid JSON, not UTF-8.
    const [before, after] = JSON.stringify(prediction()).split('fraud') as [string, string];
    const bad = Buffer.concat([Buffer.from(`${before}fr`), Buffer.from([0xe9]), Buffer.from(`ud${after}\n`)]);
    const file = path.join(dir, 'latin1.ndjson');
    await writeFile(file, Buffer.concat([bad, Buffer.from(`${JSON.stringify(good)}\n`)]));
    const result = await ingestNdjsonFile(testDb.db, 'predictions', file);
    expect(result).toMatchObject({
      accepted: 1,
      rejected: [{ line: 1, field: null, error: expect.stringMatching(/^invalid UTF-8 at byte offset \d+/) }],
    });
    expect(await testDb.db('predictions').where({ prediction_id: good.prediction_id }).first('model_name')).toEqual({
      model_name: 'café ☕ \uFFFD',
    });
    const rejects = (await readFile(`${file}.rejects.ndjson`, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rejects).toMatchObject([{ line: 1, error: expect.stringMatching(/invalid UTF-8/) }]);
  });

  it('rejects a CSV record that is not UTF-8 by its line and keeps the rows around it', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const file = path.join(dir, 'latin1.csv');
    await writeFile(
      file,
      Buffer.concat([
        Buffer.from(`prediction_id,model_name,model_version,ts_pred,score\n${a},m,1,2026-11-01T00:00:00Z,0.1\n${b},caf`),
        Buffer.from([0xe9]),
        Buffer.from(`,1,2026-11-01T00:00:00Z,0.2\n${c},café,1,2026-11-01T00:00:00Z,0.3\n`),
      ]),
    );
    const result = await ingestFile(testDb.db, 'predictions', file);
    expect(result).toMatchObject({ accepted: 2, rejected: [{ line: 3, error: expect.stringMatching(/invalid UTF-8/) }] });
    expect(await testDb.db('predictions').where({ prediction_id: c }).first('model_name')).toEqual({ model_name: 'café' });
  });
});

describe('damaged gzip and fatal errors: nothing decoded from damage is stored, and a summary is always printed', () => {
  async function damagedGzip(name: string, damage: (gzip: Buffer) => Buffer): Promise<{ file: string; ids: string[]; size: number }> {
    const records = Array.from({ length: 3000 }, () => prediction({ features: { note: randomUUID() } }));
    const damaged = damage(gzipSync(records.map((r) => JSON.stringify(r)).join('\n') + '\n'));
    const file = path.join(dir, name);
    await writeFile(file, damaged);
    return { file, ids: records.map((r) => r.prediction_id as string), size: damaged.length };
  }

  it('refuses a truncated gzip file whole with exit 2 and a JSON summary naming the byte offset', async () => {
    const { file, ids, size } = await damagedGzip('truncated.ndjson.gz', (gzip) => gzip.subarray(0, gzip.length - 200));
    const run = await runCli(['ingest', 'predictions', file, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({
      fatal: expect.stringMatching(/is damaged gzip \(unexpected end of file\).*nothing was stored/),
      byte_offset: size,
      accepted: 0,
      duplicates: 0,
      rejected_count: 0,
    });
    expect(run.stderr).toMatch(/damaged gzip/);
    expect(await countPredictions(ids)).toBe(0);
  });

  it('refuses a gzip file with a flipped bit in the middle, which inflates to plausible lines before its checksum fails', async () => {
    const { file, ids } = await damagedGzip('flipped.ndjson.gz', (gzip) => {
      const copy = Buffer.from(gzip);
      copy[Math.floor(copy.length / 2)]! ^= 0x10;
      return copy;
    });
    const run = await runCli(['ingest', 'predictions', file, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ fatal: expect.stringMatching(/damaged gzip/), accepted: 0 });
    expect(await countPredictions(ids)).toBe(0);
  });

  it('refuses truncated gzip on standard input whole too', async () => {
    const { file, ids } = await damagedGzip('stdin-truncated.gz', (gzip) => gzip.subarray(0, gzip.length - 200));
    const run = await runCli(['ingest', 'predictions', '-', '--json'], await readFile(file));
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ fatal: expect.stringMatching(/standard input is damaged gzip/), accepted: 0 });
    expect(await countPredictions(ids)).toBe(0);
  });

  it('prints the JSON summary with --json for any fatal error, e.g. an unknown kind or a database that does not exist', async () => {
    const wrongKind = await runCli(['ingest', 'labels', 'x.ndjson', '--json']);
    expect(wrongKind.code).toBe(2);
    expect(JSON.parse(wrongKind.stdout)).toMatchObject({ fatal: expect.stringMatching(/kind must be one of/), accepted: 0 });
    const file = await writeLines('no-database.ndjson', [prediction()]);
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'hindsight.js'), 'ingest', 'predictions', file, '--json'], {
      env: { ...process.env, DATABASE_URL: testDb.url.replace(/\/[^/]*$/, '/hindsight_no_such_database') },
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    const { fatal } = JSON.parse(stdout);
    expect(fatal).toMatch(/^database "hindsight_no_such_database" does not exist on PostgreSQL at [^ ]+:\d+: create it/);
    expect(fatal).not.toMatch(/SQLSTATE|3D000/);
  });

  it('answers a label definition version beyond int4 with a message naming the version, not SQL', async () => {
    const run = await runCli(['label-definition', 'show', 'fraud@99999999999']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/version must be 1 … 2147483647/);
    expect(run.stderr).not.toMatch(/select|label_definitions/i);
  });

  it('names a database error by its message, never by the SQL knex puts in front or a SQLSTATE', async () => {
    const error = await testDb.db
      .raw("select 1 / (select 0 where 'secret-value' = ?)", ['secret-value'])
      .catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/^select/);
    expect(describeFailure(error)).toBe('the database refused a value: division by zero');
  });
});
