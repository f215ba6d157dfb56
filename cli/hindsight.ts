import { Command, CommanderError } from 'commander';
import { forgetEndpoints, usedEndpoints } from './context';
import { describeForUser, isBrokenPipe } from './failure-messages';
import { COMMANDS } from './command-manifest';
import { escapeForTerminal, EXIT } from './output';

/** The command a command line runs (`help X` runs X's help); undefined for the program's own help. */
function commandOf(argv: string[]): string | undefined {
  const [first, second] = argv.slice(2);
  return first === 'help' ? second : first;
}

/**
 * The program with the command `argv` runs loaded, and every other command listed by name and
 * description only (cli/command-manifest.ts): a command pays for its own modules, not for all.
 * `all` loads every command (the test that keeps the manifest true).
 */
export async function buildProgram(setExit: (code: number) => void, argv: string[] = [], all = false): Promise<Command> {
  const program = new Command('hindsight')
    .description('Hindsight: log predictions, join delayed labels, measure quality per cohort, act on it')
    .exitOverride()
    .showHelpAfterError();
  const wanted = COMMANDS.find((entry) => entry.name === commandOf(argv))?.module;
  const loaded = new Set<string>();
  for (const entry of COMMANDS) {
    if (all || entry.module === wanted) {
      if (loaded.has(entry.module)) continue;
      loaded.add(entry.module);
      (await entry.load())(program, setExit);
    } else {
      program.command(entry.name).description(entry.description);
    }
  }
  return program;
}

let pipesGuarded = false;

/**
 * A reader that stops early (`hindsight ingest --json | head`) breaks the pipe: that is no
 * failure of the command, which finishes its work and exits with its own code, printing nothing
 * more. Any other error of the standard streams is left to Node.
 */
function guardStandardStreams(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (!isBrokenPipe(error)) throw error;
    });
  }
}

/** Runs the command line and returns its exit code (0 ok, 1 partial input rejected, 2 usage/fatal). */
export async function main(argv: string[]): Promise<number> {
  guardStandardStreams();
  forgetEndpoints();
  let exitCode: number = EXIT.ok;
  try {
    const program = await buildProgram((code) => {
      exitCode = code;
    }, argv);
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.fatal;
    }
    if (isBrokenPipe(error)) return exitCode;
    // One sentence that says what to do: no SQL, no SQLSTATE, no stack trace (HINDSIGHT_DEBUG=1 adds the trace).
    const message = describeForUser(error, usedEndpoints());
    process.stderr.write(`hindsight: ${escapeForTerminal(message)}\n`);
    if (process.env.HINDSIGHT_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return EXIT.fatal;
  }
}
