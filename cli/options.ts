import { z } from 'zod';
import { timestampSchema } from '../activities/ingest/record-schemas';
import { UsageError } from './output';

/** Parses a command's options with zod so a bad flag says which flag and why. */
export function parseOptions<T extends z.ZodType>(schema: T, options: unknown, command: string): z.output<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  --${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`);
    throw new UsageError(`${command}: invalid options\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export const cohortOptionsSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  environment: z.string().min(1).optional(),
  from: timestampSchema,
  to: timestampSchema,
  labelDefinition: z.string().min(1),
  json: z.boolean().optional(),
}).refine((o) => o.from < o.to, { path: ['from'], message: 'must be before --to' });
