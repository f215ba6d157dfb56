import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/database';

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
