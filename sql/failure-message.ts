/** knex prefixes a failed query's SQL (with its values) to the database's message: `sql - message`. */
const KNEX_SQL_PREFIX =
  /^\s*(?:select|insert|update|delete|with|create|alter|drop|copy|truncate|set|begin|commit|rollback|lock|call|do|explain|values)\b[\s\S]* - /i;

/**
 * One line for a failure that is safe to show a user: a database error says its SQLSTATE
 * and the database's own message, never the SQL text or the values bound into it.
 */
export function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
    return `database error (SQLSTATE ${code}): ${message.replace(KNEX_SQL_PREFIX, '')}`;
  if (typeof code === 'string' && code.startsWith('Z_')) return `input is not readable gzip: ${message}`;
  return message;
}
