import type { Command } from 'commander';
import { loadEnv } from '../../workers/env';
import { resolveTemporalAddress } from '../../workers/services';
import { registerSearchAttributes } from '../../control/search-attributes';
import { connectTemporal } from '../context';
import { createOutput, EXIT } from '../output';

export function registerSetupTemporal(program: Command, setExit: (code: number) => void): void {
  program
    .command('setup-temporal')
    .description(
      "register Hindsight's search attributes on an existing Temporal server (idempotent; the dev server Hindsight starts has them)",
    )
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const env = loadEnv();
      const address = resolveTemporalAddress(env);
      const connection = await connectTemporal(address);
      try {
        const setup = await registerSearchAttributes(connection, env.TEMPORAL_NAMESPACE);
        out.result({ address, ...setup }, () =>
          [
            `${address} namespace ${setup.namespace}:`,
            `  added: ${setup.added.join(', ') || 'none'}`,
            `  already registered: ${setup.already_registered.join(', ') || 'none'}`,
          ].join('\n'),
        );
      } finally {
        await connection.close();
      }
      setExit(EXIT.ok);
    });
}
