/** How every command reports: one JSON document with --json, readable lines otherwise. */
export interface Output {
  json: boolean;
  result(document: unknown, human: () => string): void;
  info(line: string): void;
}

/**
 * Characters a terminal acts on instead of showing: C0 controls but newline and tab (escape
 * sequences, carriage return), DEL, C1 controls, and the bidirectional marks, embeddings,
 * overrides and isolates that can make a line read as something else.
 */
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw of those: it escapes C0 controls itself. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escapeCharacter = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Text for a terminal: every character of {@link TERMINAL_UNSAFE} written as `\uXXXX`, so data cannot restyle or reorder a line. */
export function escapeForTerminal(text: string): string {
  return text.replace(TERMINAL_UNSAFE, escapeCharacter);
}

/** JSON text with C1 controls and bidi characters as `\uXXXX` escapes: the same document, safe to print. */
export function escapeJsonText(json: string): string {
  return json.replace(JSON_UNSAFE, escapeCharacter);
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(document, human) {
      process.stdout.write(json ? `${escapeJsonText(JSON.stringify(document, null, 2))}\n` : `${escapeForTerminal(human())}\n`);
    },
    info(line) {
      process.stderr.write(`${escapeForTerminal(line)}\n`);
    },
  };
}

/** Exit codes of the command line contract. */
export const EXIT = { ok: 0, partial: 1, fatal: 2 } as const;

/** A usage mistake the user can fix from the message alone (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
