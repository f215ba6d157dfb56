import type { TestProject } from 'vitest/node';
import { ensureTemporalCli, startDevServer, type DevServer } from '../../workers/temporal-dev-server';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

let server: DevServer | undefined;

/**
 * One real Temporal dev server for the whole run (in memory, headless, free port), unless
 * TEMPORAL_ADDRESS names one already. Built from source on first use (workers/temporal-dev-server.ts).
 */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) {
    project.provide('temporalAddress', process.env.TEMPORAL_ADDRESS);
    return;
  }
  const cliPath = ensureTemporalCli((line) => process.stderr.write(`${line}\n`));
  server = await startDevServer({ cliPath, port: 0, uiPort: false });
  project.provide('temporalAddress', server.address);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
