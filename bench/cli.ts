/**
 * `npm run bench:cli`: what every command pays before it starts. In the same run, the median
 * of BENCH_CLI_RUNS (default 7) wall-clock runs of `node -e 0` (Node's own start), `hindsight
 * --help` and `hindsight label-definition show` (one query on a migrated database: the
 * simplest command that touches PostgreSQL), each in a fresh process. Prints each figure, the
 * ratio of --help to `node -e 0` (target ≤ 4) and the simple command's overhead over Node's
 * start (target ≤ 0.3 s). Last line: `{"bench":"cli","node_s":…,"help_s":…,"help_ratio":…,
 * "show_s":…,"show_overhead_s":…,"show_rss_mb":…}`.
 *
 * BENCH_DATABASE_ADMIN_URL names the PostgreSQL server (default the machine's, trust auth);
 * the bench database is created, migrated and dropped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { putLabelDefinition } from '../activities/evaluate/label-definitions';
import { migrate } from '../sql/migrate';
import { createDatabase } from '../workers/database';

const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 7);
const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number, places = 3): number => Number(value.toFixed(places));

/** Median seconds and peak RSS (MB) of `node args` run RUNS times; a failing run stops the bench. */
function measure(label: string, args: string[], env: Record<string, string> = {}): { s: number; rssMb: number | null } {
  const seconds: number[] = [];
  const rss: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    // GNU time reports the peak RSS; without it the RSS is not measured.
    const [command, prefix] = existsSync('/usr/bin/time') ? ['/usr/bin/time', ['-f', '%M', process.execPath]] : [process.execPath, []];
    const result = spawnSync(command, [...prefix, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
    if (result.status !== 0) throw new Error(`${label} failed (exit ${result.status}): ${result.stderr.trim()}`);
    if (command !== process.execPath) rss.push(Number(result.stderr.trim().split('\n').pop()) / 1024);
  }
  const figure = { s: round(median(seconds)), rssMb: rss.length > 0 ? round(median(rss), 1) : null };
  process.stderr.write(`${label}: ${figure.s} s median of ${RUNS}, ${figure.rssMb ?? '(unmeasured)'} MB peak RSS\n`);
  return figure;
}

async function main(): Promise<void> {
  const name = `hindsight_bench_cli_${randomBytes(3).toString('hex')}`;
  const admin = createDatabase(ADMIN_URL, { maxConnections: 1 });
  await admin.raw(`create database "${name}"`);
  const url = ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const db = createDatabase(url);
  try {
    await migrate(db);
    await putLabelDefinition(db, {
      name: 'bench-cli',
      version: 1,
      model_name: 'bench',
      task: 'binary',
      window: 'P30D',
      positive_outcome_types: ['chargeback'],
    });
    const node = measure('node -e 0', ['-e', '0']);
    const help = measure('hindsight --help', [BIN, '--help']);
    const show = measure('hindsight label-definition show', [BIN, 'label-definition', 'show', 'bench-cli@1'], { DATABASE_URL: url });
    const document = {
      bench: 'cli',
      node_s: node.s,
      help_s: help.s,
      help_ratio: round(help.s / node.s, 2),
      show_s: show.s,
      show_overhead_s: round(show.s - node.s),
      show_rss_mb: show.rssMb,
    };
    process.stderr.write(
      `--help: ${document.help_ratio}× node's start (target ≤ 4); label-definition show: ${document.show_overhead_s} s over it (target ≤ 0.3 s)\n`,
    );
    process.stdout.write(`${JSON.stringify(document)}\n`);
  } finally {
    await db.destroy();
    await admin.raw(`drop database if exists "${name}" with (force)`);
    await admin.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:cli failed: ${(error as Error).message}\n`);
  process.exitCode = 2;
});
