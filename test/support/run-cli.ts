import { execFile } from 'node:child_process';
import path from 'node:path';

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
