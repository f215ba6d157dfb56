/**
 * A request to Temporal that cannot be made as asked (a period that is not a whole number of
 * seconds, a schedule id taken, a schedule Hindsight did not create, a decision a workflow
 * refused or no worker took). The message says what to change; the command line reports it as
 * a usage error (exit code 2).
 */
export class ControlRequestError extends Error {
  override readonly name = 'ControlRequestError';
}
