import { z } from 'zod';

/**
 * Everything Hindsight reads from the environment, parsed once so that a typo fails
 * at start-up with a readable message instead of deep inside a workflow.
 */
const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port, e.g. 127.0.0.1:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  HINDSIGHT_TASK_QUEUE: z.string().min(1).default('hindsight'),
  HINDSIGHT_STATE_DIR: z.string().min(1).default('.hindsight'),
  /** Temporal SDK log level for `worker` and `dev`; the webpack bundling chatter is INFO. */
  HINDSIGHT_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('WARN'),
  HINDSIGHT_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Browser origins `serve` answers (comma-separated, e.g. `https://ops.example.com`); none by default. */
  HINDSIGHT_ALLOWED_ORIGINS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin !== ''),
    )
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'each origin must be scheme://host[:port], without a path')))
    .default([]),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses `source` (default `process.env`); empty strings count as unset. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
