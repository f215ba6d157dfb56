import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../cli/command-manifest';
import { buildProgram } from '../../../cli/hindsight';

describe('the command manifest', () => {
  it('names every top-level command with the description its module registers, in the order of the help', async () => {
    const program = await buildProgram(() => {}, [], true);
    expect(program.commands.map((command) => [command.name(), command.description()])).toEqual(
      COMMANDS.map((entry) => [entry.name, entry.description]),
    );
  });

  it('loads only the module of the command that runs; the others are listed, not loaded', async () => {
    const program = await buildProgram(() => {}, ['node', 'hindsight', 'dev']);
    const withOptions = program.commands.filter((command) => command.options.length > 0).map((command) => command.name());
    // The `run` module registers both `worker` and `dev`; every other command is a name and a description.
    expect(withOptions).toContain('dev');
    expect(withOptions.filter((name) => name !== 'dev' && name !== 'worker')).toEqual([]);
    const help = await buildProgram(() => {}, ['node', 'hindsight', 'help', 'cohort']);
    expect(help.commands.find((command) => command.name() === 'cohort')!.commands.length).toBeGreaterThan(0);
  });
});
