import { Command, CommanderError } from 'commander';
import { describeFailure } from '../sql/failure-message';
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
import { EXIT } from './output';

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

/** Runs the command line and returns its exit code (0 ok, 1 partial input rejected, 2 usage/fatal). */
export async function main(argv: string[]): Promise<number> {
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
    // A database error is named by its SQLSTATE and message, never by its SQL (knex prefixes it).
    const message = describeFailure(error);
    process.stderr.write(`hindsight: ${message}\n`);
    if (process.env.HINDSIGHT_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return EXIT.fatal;
  }
}
