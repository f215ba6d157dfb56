import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import type { CohortSelector } from '../contracts/cohort';
import { timestampSchema } from '../contracts/records';
import { UsageError } from './output';

/**
 * A JSON file a command stores (a label definition, a policy); unreadable or invalid JSON is a
 * usage error naming the file. Read as bytes: invalid UTF-8 is refused naming its line, never
 * stored as U+FFFD.
 */
export async function readJsonFile(file: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`${file}: line ${invalidUtf8Line(bytes)}: not valid UTF-8; save the file as UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around the error; the file may hold a secret or control characters, so it is left out.
    const message = (error as Error).message.replace(/^(Unexpected token '.+?'), .* is not valid JSON$/s, '$1');
    const position = /at position (\d+)/.exec(message);
    const line = position ? ` (line ${text.slice(0, Number(position[1])).split('\n').length})` : '';
    throw new UsageError(`${file}: not valid JSON${line}: ${message}`);
  }
}

/** The 1-based line of the first byte sequence that is not UTF-8 (a newline byte never occurs inside one). */
function invalidUtf8Line(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let line = 1; ; line++) {
    const end = bytes.indexOf(0x0a, start);
    try {
      decoder.decode(bytes.subarray(start, end === -1 ? bytes.length : end));
    } catch {
      return line;
    }
    if (end === -1) return line;
    start = end + 1;
  }
}

/** Parses a command's options with zod so a bad flag says which flag and why. */
export function parseOptions<T extends z.ZodType>(schema: T, options: unknown, command: string): z.output<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  --${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`,
    );
    throw new UsageError(`${command}: invalid options\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export const cohortOptionsSchema = z
  .object({
    model: z.string().min(1),
    version: z.string().min(1),
    environment: z.string().min(1).optional(),
    from: timestampSchema,
    to: timestampSchema,
    labelDefinition: z.string().min(1),
    json: z.boolean().optional(),
  })
  .refine((o) => o.from < o.to, { path: ['from'], message: 'must be before --to' });

/**
 * The flags that pick a cohort and its label definition (and, for commands that evaluate,
 * the as-of moment): one definition, so every command spells and explains them alike.
 */
export function addCohortOptions(command: Command, { asOf }: { asOf: boolean }): Command {
  command
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--version <version>', 'model version')
    .option('--environment <env>', 'only predictions from this environment')
    .requiredOption('--from <iso>', 'cohort start (inclusive), with offset')
    .requiredOption('--to <iso>', 'cohort end (exclusive), with offset')
    .requiredOption('--label-definition <ref>', 'NAME or NAME@VERSION');
  if (asOf) command.requiredOption('--as-of <iso>', 'only outcomes received by then count');
  return command;
}

/** The cohort that parsed cohort options select. */
export function cohortSelectorFrom(options: {
  model: string;
  version: string;
  environment?: string | undefined;
  from: string;
  to: string;
}): CohortSelector {
  return {
    model_name: options.model,
    model_version: options.version,
    environment: options.environment ?? null,
    start: options.from,
    end: options.to,
  };
}

/**
 * An as-of before the cohort's start sees none of its outcomes, so its numbers would look
 * real and mean nothing: refused (exit 2). One before the cohort's end sees only the outcomes
 * received by then: a warning on stderr says the numbers are partial.
 */
export function checkAsOf(command: string, cohort: { start: string; end: string }, asOf: string, warn: (line: string) => void): void {
  const at = Date.parse(asOf);
  if (at < Date.parse(cohort.start))
    throw new UsageError(
      `${command}: --as-of ${asOf} is before the cohort's start ${cohort.start}: no outcome of it can have been received by then; ` +
        `give an --as-of at or after ${cohort.start}`,
    );
  if (at < Date.parse(cohort.end))
    warn(
      `hindsight: ${command}: warning: --as-of ${asOf} is before the cohort's end ${cohort.end}: ` +
        'only outcomes received by then count, so the numbers are partial',
    );
}
