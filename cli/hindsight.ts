import { Command, CommanderError } from 'commander';
import { forgetEndpoints, usedEndpoints } from './context';
import { describeForUser, isBrokenPipe } from './failure-messages';
import { registerAlerts } from './commands/alerts';
import { registerCalibrate } from './commands/calibrate';
import { registerCohort } from './commands/cohort';
import { registerDemo } from './commands/demo';
import { registerDiagnose } from './commands/diagnose';
import { registerDrift } from './commands/drift';
import { registerEvaluate } from './commands/evaluate';
import { registerExport } from './commands/export';
import { registerIngest } from './commands/ingest';
import { registerLabelDefinition } from './commands/label-definition';
import { registerLatency } from './commands/latency';
import { registerMigrate } from './commands/migrate';
import { registerPolicy } from './commands/policy';
import { registerOpe } from './commands/ope';
import { registerReport } from './commands/report';
import { registerRetention } from './commands/retention';
import { registerRetraining } from './commands/retraining';
import { registerRun } from './commands/run';
import { registerSchedule } from './commands/schedule';
import { registerServe } from './commands/serve';
import { registerSetupTemporal } from './commands/setup-temporal';
import { registerThreshold } from './commands/threshold';
import { registerTrace } from './commands/trace';
import { escapeForTerminal, EXIT } from './output';

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('hindsight')
    .description('Hindsight: log predictions, join delayed labels, measure quality per cohort, act on it')
    .exitOverride()
    .showHelpAfterError();
  registerMigrate(program, setExit);
  registerLabelDefinition(program, setExit);
  registerIngest(program, setExit);
  registerEvaluate(program, setExit);
  registerCohort(program, setExit);
  registerSchedule(program, setExit);
  registerRun(program, setExit);
  registerDemo(program, setExit);
  registerSetupTemporal(program, setExit);
  registerServe(program, setExit);
  registerRetention(program, setExit);
  registerExport(program, setExit);
  registerTrace(program, setExit);
  registerDrift(program, setExit);
  registerLatency(program, setExit);
  registerPolicy(program, setExit);
  registerAlerts(program, setExit);
  registerDiagnose(program, setExit);
  registerRetraining(program, setExit);
  registerCalibrate(program, setExit);
  registerThreshold(program, setExit);
  registerOpe(program, setExit);
  registerReport(program, setExit);
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
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
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
