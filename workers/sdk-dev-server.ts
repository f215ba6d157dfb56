/**
 * A first run without Go: when no Temporal CLI is at hand and Go is not there to build one,
 * the dev server the Temporal SDK downloads itself (cached under `.cache/temporal-sdk` for a
 * day at a time), started with the settings `startDevServer` gives the CLI: loopback, the
 * given ports, the state file and the cohort search attributes.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EphemeralServerExecutable, TestWorkflowEnvironment } from '@temporalio/testing';
import { findProjectRoot } from './project-root';
import { findFreePort, findTemporalCli, type CliLookup, type DevServer, type DevServerOptions } from './temporal-dev-server';

/** Where a dev server comes from: a CLI found, one built with Go, or the SDK's download. */
export type DevServerSource = { kind: 'cli'; path: string } | { kind: 'build-with-go' } | { kind: 'sdk-download' };

/** Go on PATH or at its usual place. */
export function goAvailable(lookup: CliLookup = process.env): boolean {
  const dirs = (lookup.PATH ?? '').split(path.delimiter).filter(Boolean);
  return existsSync('/usr/local/go/bin/go') || dirs.some((dir) => existsSync(path.join(dir, 'go')));
}

/** The CLI when one is found; else a build when Go is there; else the SDK's download. */
export function devServerSource(lookup: CliLookup = process.env, root = findProjectRoot(), hasGo = goAvailable(lookup)): DevServerSource {
  const found = findTemporalCli(lookup, root);
  if (found) return { kind: 'cli', path: found };
  return hasGo ? { kind: 'build-with-go' } : { kind: 'sdk-download' };
}

export const sdkDownloadDir = (root = findProjectRoot()): string => path.join(root, '.cache', 'temporal-sdk');

/** What to do when no dev server can be had: every way out, in one message. */
export function noDevServerMessage(reason: string): string {
  return [
    `cannot start a Temporal dev server: no Temporal CLI was found, Go is not installed to build one, and the Temporal SDK could not download one (${reason}).`,
    'Any one of these fixes it:',
    '  - install Go (https://go.dev/dl/) and run the command again: Hindsight builds the Temporal CLI once;',
    '  - set TEMPORAL_CLI_PATH to a `temporal` binary you have;',
    '  - set TEMPORAL_ADDRESS=host:port to use a Temporal server that is already running;',
    '  - or run `docker compose up` in the repository, which runs Temporal, PostgreSQL and a worker.',
  ].join('\n');
}

/** The Temporal SDK's own dev server; `executable` defaults to its cached download. */
export async function startSdkDevServer(
  options: Omit<DevServerOptions, 'cliPath' | 'logFile'> & { executable?: EphemeralServerExecutable },
): Promise<DevServer> {
  const port = options.port || (await findFreePort());
  const uiPort = options.uiPort === false ? undefined : options.uiPort || (await findFreePort());
  let env: TestWorkflowEnvironment;
  try {
    // Loaded only here: the testing package brings the whole worker with it.
    const [{ TestWorkflowEnvironment }, { devServerSearchAttributeArgs }] = await Promise.all([
      import('@temporalio/testing'),
      import('../control/search-attributes.js'),
    ]);
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: options.executable ?? { type: 'cached-download', downloadDir: sdkDownloadDir() },
        ip: '127.0.0.1',
        port,
        ...(uiPort === undefined ? { ui: false } : { ui: true, uiPort }),
        ...(options.dbFile ? { dbFilename: options.dbFile } : {}),
        log: { format: 'pretty', level: 'warn' },
        extraArgs: options.searchAttributes === false ? [] : devServerSearchAttributeArgs(),
      },
    });
  } catch (error) {
    throw new Error(noDevServerMessage(String((error as Error).message ?? error).replace(/^Failed to start ephemeral server: /, '')));
  }
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    stop: () => env.teardown(),
  };
}
