import { execFile } from 'node:child_process';
import path from 'node:path';
import { vi } from 'vitest';
import { main } from '../../cli/hindsight';

const BIN = path.join(__dirname, '..', '..', 'bin', 'hindsight.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The compiled command line (`npm test` compiles first), run asynchronously so that a worker
 * hosted by the test process keeps answering while the command talks to it.
 */
export function runHindsight(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** The command line in this process (no child per call), capturing what it prints. */
export async function runHindsightInProcess(args: string[], env: Record<string, string>): Promise<CliRun> {
  Object.assign(process.env, env);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(['node', 'hindsight', ...args]), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
