/**
 * `npm run bench:ingest`: the ingest target (≥ 0.8× raw COPY). 1M generated predictions go through the
 * real ingest path (the `ingestFile` that `hindsight ingest` runs: parse, validate, COPY
 * into staging, set-based merge with identity claims, ANALYZE of the partitions it loaded whose row count moved by a tenth, the GIN pending lists merged)
 * and, first in the same run, the same rows, already in COPY's text format, are loaded with a
 * bare `COPY` into the same table, `predictions` (same partitions, indexes and key claims).
 * Last line: `{"bench":"ingest","rows":…,"ratio":…,"ingest_s":…,"raw_copy_s":…,"node_cpu_s":…}` with ratio
 * = our rate / COPY's (target ≥ 0.8) and node_cpu_s the CPU this process spent on the ingest.
 *
 * BENCH_ROWS overrides the row count; BENCH_DATABASE_ADMIN_URL the server (default the
 * machine's Postgres, trust auth). The bench database and files are removed afterwards.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { formatCopyRow } from '../activities/ingest/copy-row';
import { ingestFile } from '../activities/ingest/ingest-records';
import { validateRecord } from '../activities/ingest/validate-record';
import { migrate } from '../sql/migrate';
import { createDatabase } from '../workers/database';

const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const START = Date.parse('2026-01-01T00:00:00Z');
const SPAN_MS = 60 * 86_400_000;
/** The months the generated ts_pred fall in (START + SPAN_MS). */
const MONTHS = ['2026-01', '2026-02', '2026-03'];

function generatePrediction(i: number): Record<string, unknown> {
  return {
    prediction_id: randomUUID(),
    model_name: 'bench',
    model_version: 'v1',
    feature_view_version: 'fv3',
    entity_ids: { transaction_id: `t${i}`, user_id: `u${i % 50_000}` },
    ts_pred: new Date(START + Math.floor((i / ROWS) * SPAN_MS)).toISOString(),
    score: ((i * 7919) % 10_007) / 10_007,
    threshold: 0.5,
    decision: i % 3 === 0 ? 'block' : 'allow',
    request_id: `r${i}`,
    environment: i % 10 === 0 ? 'shadow' : 'production',
    region: i % 2 === 0 ? 'eu' : 'us',
    segment: { device: ['ios', 'android', 'web'][i % 3], customer: i % 4 === 0 ? 'new' : 'returning' },
    features: { amount: i % 5000, age_days: i % 900 },
  };
}

async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/** The NDJSON input and, for the bare COPY, the very same rows as COPY text (not timed). */
async function generateInputs(dir: string): Promise<{ ndjson: string; copyText: string }> {
  const ndjson = path.join(dir, 'predictions.ndjson');
  const copyText = path.join(dir, 'predictions.copy');
  const jsonOut = createWriteStream(ndjson);
  const copyOut = createWriteStream(copyText);
  let jsonBuffer = '';
  let copyBuffer = '';
  for (let i = 0; i < ROWS; i += 1) {
    const record = generatePrediction(i);
    jsonBuffer += `${JSON.stringify(record)}\n`;
    const checked = validateRecord('predictions', record, { receivedAt: new Date().toISOString() });
    if (!checked.ok) throw new Error(`generated an invalid record: ${checked.error}`);
    // Drop the leading `line` field: the bare table has exactly the table's columns.
    copyBuffer += formatCopyRow('predictions', i + 1, checked.row).text.replace(/^\d+\t/, '');
    if (jsonBuffer.length > 1 << 20) {
      await write(jsonOut, jsonBuffer);
      await write(copyOut, copyBuffer);
      jsonBuffer = '';
      copyBuffer = '';
    }
  }
  jsonOut.end(jsonBuffer);
  copyOut.end(copyBuffer);
  await Promise.all([once(jsonOut, 'close'), once(copyOut, 'close')]);
  return { ndjson, copyText };
}

async function main(): Promise<void> {
  const name = `hindsight_bench_ingest_${randomBytes(4).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`create database "${name}"`);
  const db = createDatabase(url);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hindsight-bench-'));
  try {
    await migrate(db);
    process.stderr.write(`generating ${ROWS.toLocaleString('en-US')} predictions…\n`);
    const inputs = await generateInputs(dir);

    // Like with like: the raw COPY loads the very same rows into the table our ingest
    // writes, `predictions` (its month partitions, indexes and the key claims its statement
    // trigger makes), then the table is emptied for the ingest.
    for (const month of MONTHS)
      await db.raw('select hindsight_ensure_month_partition(?::regclass, ?::timestamptz)', ['predictions', `${month}-01T00:00:00Z`]);
    const columns = (
      await db.raw(`select string_agg(quote_ident(column_name), ', ' order by ordinal_position) as list
      from information_schema.columns where table_name = 'predictions' and column_name not in ('ingested_at')`)
    ).rows[0].list as string;
    await db.raw('checkpoint');

    const copyStarted = process.hrtime.bigint();
    const connection = (await db.client.acquireConnection()) as pg.Client;
    try {
      await pipeline(createReadStream(inputs.copyText), connection.query(copyFrom(`copy predictions (${columns}) from stdin`)));
    } finally {
      await db.client.releaseConnection(connection);
    }
    const copySeconds = Number(process.hrtime.bigint() - copyStarted) / 1e9;
    const copied = Number((await db.raw('select count(*) as n from predictions')).rows[0].n);
    if (copied !== ROWS) throw new Error(`the raw COPY stored ${copied} of ${ROWS} rows`);
    await db.raw('truncate predictions, prediction_keys');
    await db.raw('checkpoint');

    const ingestStarted = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    const result = await ingestFile(db, 'predictions', inputs.ndjson, { rejectsPath: path.join(dir, 'rejects.ndjson') });
    const ingestSeconds = Number(process.hrtime.bigint() - ingestStarted) / 1e9;
    // What the ingest's own process spent (read, parse, validate, format, hash, send), on the
    // same cores as PostgreSQL: the raw COPY's side of that is only reading the file.
    const cpu = process.cpuUsage(cpuBefore);
    const nodeCpuSeconds = (cpu.user + cpu.system) / 1e6;
    if (result.accepted !== ROWS)
      throw new Error(`ingest accepted ${result.accepted} of ${ROWS} rows: ${JSON.stringify(result.rejected.slice(0, 3))}`);

    const copyRate = ROWS / copySeconds;
    const ingestRate = ROWS / ingestSeconds;
    process.stdout.write(
      `raw COPY:         ${ROWS} rows in ${copySeconds.toFixed(2)} s = ${Math.round(copyRate).toLocaleString('en-US')} rows/s\n`,
    );
    process.stdout.write(
      `hindsight ingest: ${ROWS} rows in ${ingestSeconds.toFixed(2)} s = ${Math.round(ingestRate).toLocaleString('en-US')} rows/s ` +
        `(${nodeCpuSeconds.toFixed(1)} s of CPU in this process)\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'ingest',
        rows: ROWS,
        ratio: Number((ingestRate / copyRate).toFixed(3)),
        ingest_rows_per_s: Math.round(ingestRate),
        raw_copy_rows_per_s: Math.round(copyRate),
        ingest_s: Number(ingestSeconds.toFixed(1)),
        raw_copy_s: Number(copySeconds.toFixed(1)),
        node_cpu_s: Number(nodeCpuSeconds.toFixed(1)),
        load_avg: Number(os.loadavg()[0]!.toFixed(1)),
      })}\n`,
    );
  } finally {
    await db.destroy();
    await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`bench:ingest failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
