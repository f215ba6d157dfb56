import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { findProjectRoot } from './project-root';

/** The Temporal CLI tag Hindsight pins; later tags carry `replace` directives and cannot be `go install`ed. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;

export interface CliLookup {
  TEMPORAL_CLI_PATH?: string | undefined;
  PATH?: string | undefined;
}

/** The project-local cache where a built CLI lives (git-ignored). */
export function cachedCliPath(root = findProjectRoot()): string {
  return path.join(root, '.cache', 'bin', 'temporal');
}

/** `TEMPORAL_CLI_PATH`, then `PATH`, then the project cache; `undefined` when none has it. */
export function findTemporalCli(lookup: CliLookup = process.env, root = findProjectRoot()): string | undefined {
  if (lookup.TEMPORAL_CLI_PATH) {
    if (!existsSync(lookup.TEMPORAL_CLI_PATH)) {
      throw new Error(`TEMPORAL_CLI_PATH points at ${lookup.TEMPORAL_CLI_PATH}, which does not exist`);
    }
    return lookup.TEMPORAL_CLI_PATH;
  }
  for (const dir of (lookup.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'temporal');
    if (existsSync(candidate)) return candidate;
  }
  const cached = cachedCliPath(root);
  return existsSync(cached) ? cached : undefined;
}

/**
 * Finds the Temporal CLI or builds it once into the project cache with the Go toolchain.
 * The build takes minutes on a cold module cache, so callers should say so on the terminal.
 */
export function ensureTemporalCli(log: (line: string) => void = () => {}): string {
  const found = findTemporalCli();
  if (found) return found;
  const target = cachedCliPath();
  mkdirSync(path.dirname(target), { recursive: true });
  log(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} into ${target} (once; takes a few minutes)`);
  const go = existsSync('/usr/local/go/bin/go') && !commandOnPath('go') ? '/usr/local/go/bin/go' : 'go';
  const result = spawnSync(go, ['install', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: path.dirname(target) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.error) {
    throw new Error(
      `cannot build the Temporal CLI: ${result.error.message} (is Go installed? set TEMPORAL_CLI_PATH or TEMPORAL_ADDRESS instead)`,
    );
  }
  if (result.status !== 0 || !existsSync(target)) {
    throw new Error(`CGO_ENABLED=0 go install ${TEMPORAL_CLI_MODULE} failed with exit code ${result.status}`);
  }
  return target;
}

function commandOnPath(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, name)));
}

export interface DevServerOptions {
  cliPath: string;
  /** gRPC port; 0 picks a free one. */
  port?: number;
  /** Web UI port; 0 picks a free one, `false` runs headless. */
  uiPort?: number | false;
  /** SQLite file that keeps workflow state across restarts; in memory when absent. */
  dbFile?: string;
  logFile?: string;
  /** Register the cohort search attributes at start (default); off only to test `setup-temporal`. */
  searchAttributes?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  stop(): Promise<void>;
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `temporal server start-dev` and resolves once its frontend answers gRPC. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port || (await findFreePort());
  const uiPort = options.uiPort === false ? undefined : options.uiPort || (await findFreePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  if (options.searchAttributes !== false) {
    // Loaded here: the search attribute keys bring @temporalio/common, which a command that
    // never starts a server should not pay for.
    const { devServerSearchAttributeArgs } = await import('../control/search-attributes.js');
    args.push(...devServerSearchAttributeArgs());
  }
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  if (options.logFile) mkdirSync(path.dirname(options.logFile), { recursive: true });
  const output = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(options.cliPath, args, { stdio: ['ignore', output, output] });
  const address = `127.0.0.1:${port}`;
  try {
    await waitForFrontend(address, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    stop: () => stopChild(child),
  };
}

async function waitForFrontend(address: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  // Loaded here: commands that start no server need no Temporal client.
  const { Connection } = await import('@temporalio/client');
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`temporal server start-dev exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(`Temporal dev server at ${address} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
