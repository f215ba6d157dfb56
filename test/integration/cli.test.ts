import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';

const testDb = useTestDatabase();
const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');

/** Runs the compiled command line (`npm test` compiles first) the way a user would. */
function hindsight(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: testDb.url, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the hindsight command line', () => {
  it('lists the walking-skeleton commands in --help', () => {
    const { code, stdout } = hindsight(['--help']);
    expect(code).toBe(0);
    for (const command of ['migrate', 'ingest', 'label-definition', 'evaluate', 'cohort', 'worker', 'dev']) {
      expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });

  it('exits 2 with a message on stderr for an unknown command', () => {
    const { code, stderr } = hindsight(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });

  it('exits 2 naming the variable when the environment is invalid', () => {
    const { code, stderr } = hindsight(['migrate'], { DATABASE_URL: 'mysql://nope' });
    expect(code).toBe(2);
    expect(stderr).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
  });

  it('migrates idempotently: a second run applies nothing', () => {
    const first = hindsight(['migrate', '--json']);
    expect(first.code).toBe(0);
    const second = hindsight(['migrate', '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).applied).toEqual([]);
  });

  it('rejects a naive --as-of with exit 2 and says which flag', () => {
    const { code, stderr } = hindsight([
      'evaluate',
      '--model',
      'm',
      '--version',
      '1',
      '--from',
      '2026-01-01T00:00:00Z',
      '--to',
      '2026-01-08T00:00:00Z',
      '--label-definition',
      'x',
      '--as-of',
      '2026-02-01T00:00:00',
      '--json',
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--as-of: .*offset/);
  });

  it('exits 2 with a readable message when the label definition does not exist', () => {
    const { code, stderr } = hindsight([
      'evaluate',
      '--model',
      'm',
      '--version',
      '1',
      '--from',
      '2026-01-01T00:00:00Z',
      '--to',
      '2026-01-08T00:00:00Z',
      '--label-definition',
      'missing',
      '--as-of',
      '2026-02-01T00:00:00Z',
      '--json',
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain('label definition missing not found');
  });
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The command line in this process with `env` for this call only. */
async function inProcess(args: string[], env: Record<string, string>) {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  try {
    return await runHindsightInProcess(args, env);
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

describe('failures the command line explains', () => {
  it('names the Temporal address that could not be reached, at once and without a stack trace', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const started = Date.now();
    const run = await inProcess(['cohort', 'signal', 'cohort/x', 'recheck-late-labels'], { TEMPORAL_ADDRESS: address });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `hindsight: could not reach the Temporal server at ${address}: is it running? ` +
        '(`hindsight dev` starts one; TEMPORAL_ADDRESS names another)\n',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('names the PostgreSQL host and port that refused, never the password, knex or a stack trace', async () => {
    const port = await closedPort();
    const run = await inProcess(['trace', randomUUID(), '--label-definition', 'x'], {
      DATABASE_URL: `postgres://hindsight:pa55word-secret@127.0.0.1:${port}/hindsight`,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `hindsight: could not connect to PostgreSQL at 127.0.0.1:${port}: the connection was refused; ` +
        'is the server running, and is DATABASE_URL right?\n',
    );
  });

  it('says which cohort workflow does not exist instead of "workflow not found for ID"', async () => {
    const run = await inProcess(['cohort', 'signal', 'cohort/no-such-model/1/*/a/b/d@1', 'recheck-late-labels'], {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'hindsight: no cohort workflow cohort/no-such-model/1/*/a/b/d@1: check the id (`hindsight cohort list --model M` lists cohorts)\n',
    );
  });

  it('finishes its work and exits with its own code, silently, when the reader of its output has gone (| head)', async () => {
    const file = path.join(os.tmpdir(), `hindsight-epipe-${randomUUID()}.ndjson`);
    const id = randomUUID();
    await writeFile(
      file,
      `${JSON.stringify({ prediction_id: id, model_name: 'epipe', model_version: '1', ts_pred: '2026-01-01T00:00:00Z', score: 0.5 })}\n`,
    );
    const child = spawn(process.execPath, [BIN, 'ingest', 'predictions', file, '--json'], {
      env: { ...process.env, DATABASE_URL: testDb.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The reader closes before the command writes its document: every write gets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(await testDb.db('predictions').where({ prediction_id: id }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });
});
