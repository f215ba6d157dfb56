/** How every command reports: one JSON document with --json, readable lines otherwise. */
export interface Output {
  json: boolean;
  result(document: unknown, human: () => string): void;
  info(line: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(document, human) {
      process.stdout.write(json ? `${JSON.stringify(document, null, 2)}\n` : `${human()}\n`);
    },
    info(line) {
      process.stderr.write(`${line}\n`);
    },
  };
}

/** Exit codes of the command line contract. */
export const EXIT = { ok: 0, partial: 1, fatal: 2 } as const;

/** A usage mistake the user can fix from the message alone (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
