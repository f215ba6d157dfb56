import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import type { CohortSelector } from '../contracts/cohort';
import { timestampSchema } from '../contracts/records';
import { UsageError } from './output';

/** A JSON file a command stores (a label definition, a policy); unreadable or invalid JSON is a usage error naming the file. */
export async function readJsonFile(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
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
