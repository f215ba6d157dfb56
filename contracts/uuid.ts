import { z } from 'zod';

/**
 * The one rule for a prediction id, wherever one comes in (ingest, `serve`, `trace`, `ope
 * --target-policy`): 8-4-4-4-12 hexadecimal digits, any case, any version and variant bits,
 * exactly what PostgreSQL's `uuid` type stores. RFC 4122 is not required: producers mint ids
 * their own way, and an id that ingest stores must be one that every later command can name.
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const UUID_MESSAGE = 'must be a UUID (8-4-4-4-12 hexadecimal digits)';

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/** A UUID by {@link UUID_PATTERN}, lower-cased as PostgreSQL prints it, so ids compare as text. */
export const uuidSchema = z
  .string({ error: UUID_MESSAGE })
  .regex(UUID_PATTERN, { message: UUID_MESSAGE })
  .transform((id) => id.toLowerCase());
