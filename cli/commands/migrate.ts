import type { Command } from 'commander';
import { migrate } from '../../sql/migrate';
import { withDatabase } from '../context';
import { createOutput, EXIT } from '../output';

export function registerMigrate(program: Command, setExit: (code: number) => void): void {
  program
    .command('migrate')
    .description('apply the numbered SQL migrations (safe to run twice)')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const result = await withDatabase((db) => migrate(db));
      out.result(result, () => (result.applied.length ? `applied ${result.applied.join(', ')}` : 'database is up to date'));
      setExit(EXIT.ok);
    });
}
