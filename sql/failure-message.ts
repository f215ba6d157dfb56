/**
 * knex prefixes a failed query's SQL to the database's message: `sql - message`. The SQL may
 * start after blanks, a parenthesis or a comment; the prefix ends at the last ` - `, as the
 * SQL itself may hold one (`end - interval`) and knex appends the database's words last.
 */
const KNEX_SQL_PREFIX =
  /^\s*(?:\(\s*|--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(?:select|insert|update|delete|with|create|alter|drop|copy|truncate|set|begin|commit|rollback|lock|call|do|explain|values|merge|analyze|vacuum|reset|savepoint|release|declare|fetch|close|listen|notify|grant|revoke|comment)\b[\s\S]* - /i;

/** A message without the SQL text knex put in front of it (the statement and anything bound into it). */
export function stripSqlText(message: string): string {
  return message.replace(KNEX_SQL_PREFIX, '');
}

/**
 * An error of a query (pg's DatabaseError: a SQLSTATE and a severity; or the connection lost
 * mid-query), the only kind knex prefixes with SQL. Only these are stripped, so our own words
 * that happen to start like a statement ("with --every …") stay whole.
 */
export function isQueryError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return (
    (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) ||
    typeof severity === 'string' ||
    / - (Connection terminated|Query read timeout)/.test(error.message)
  );
}

/** Where the database is, for messages: `host:port`, never a user or password. */
export interface DatabaseWhere {
  database?: string;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

interface SystemError {
  code?: unknown;
  address?: unknown;
  port?: unknown;
  hostname?: unknown;
  errors?: unknown;
}

/** A refused, unresolvable or unreachable address: Node's error, or the AggregateError of a name with several addresses. */
function connectFailure(error: unknown): { code: string; at: string | null } | null {
  const candidates = [error, ...(Array.isArray((error as SystemError | null)?.errors) ? ((error as SystemError).errors as unknown[]) : [])];
  for (const candidate of candidates) {
    const { code, address, port, hostname } = (candidate ?? {}) as SystemError;
    if (typeof code !== 'string' || !CONNECT_CODES.has(code)) continue;
    const at =
      typeof address === 'string' && port !== undefined ? `${address}:${String(port)}` : typeof hostname === 'string' ? hostname : null;
    return { code, at };
  }
  return null;
}

const CONNECT_REASONS: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved just now',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

/** The sentence for a PostgreSQL error with SQLSTATE `code`: what happened and what to do, no SQL, no codes. */
function describeDatabaseError(code: string, message: string, at: string): string {
  const server = `PostgreSQL${at}`;
  switch (code) {
    case '28P01':
      return `${server} refused the password (${message}): fix the user or password in DATABASE_URL`;
    case '28000':
      return `${server} refused the connection (${message}): fix DATABASE_URL, or let this user in (pg_hba.conf)`;
    case '3D000':
      return `${message} on ${server}: create it (createdb NAME) or fix the database name in DATABASE_URL`;
    case '42P01':
    case '42703':
    case '42883':
      return `the database${at} lacks part of Hindsight's schema (${message}): run \`hindsight migrate\``;
    case '53300':
      return `${server} has no free connection (${message}): run this again when fewer clients are connected`;
    case '57P01':
    case '57P02':
    case '57P03':
      return `${server} is shutting down or starting up (${message}): run this again in a moment`;
    case '40001':
    case '40P01':
      return `the database gave up this transaction because another one conflicted with it (${message}): run this again`;
    case '57014':
      return `the database cancelled the query (${message})`;
    default:
  }
  if (code.startsWith('08')) return `lost the connection to ${server} (${message}): run this again`;
  if (code.startsWith('53')) return `the database ran out of resources (${message})`;
  if (code.startsWith('22')) return `the database refused a value: ${message}`;
  if (code.startsWith('23')) return `the database refused the change: ${message}`;
  return `the database refused the request: ${message}`;
}

/**
 * One line for a failure that is safe to show a user: a database or connection failure says
 * what happened and what to do, never the SQL text, the values bound into it, the password or
 * a SQLSTATE; `where.database` (host:port) names the server when the error does not.
 */
export function describeFailure(error: unknown, where: DatabaseWhere = {}): string {
  const code = (error as { code?: unknown } | null)?.code;
  const text = error instanceof Error ? error.message : String(error);
  const message = isQueryError(error) ? stripSqlText(text) : text;
  const at = where.database ? ` at ${where.database}` : '';
  const refused = connectFailure(error);
  if (refused) {
    const server = refused.at ?? where.database;
    return (
      `could not connect to PostgreSQL${server ? ` at ${server}` : ''}: ${CONNECT_REASONS[refused.code]}; ` +
      'is the server running, and is DATABASE_URL right?'
    );
  }
  if (error instanceof Error && error.name === 'KnexTimeoutError') {
    return (
      `no connection to PostgreSQL${at} came free in time: the server is slow to accept connections ` +
      'or every connection is in use; run this again'
    );
  }
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return describeDatabaseError(code, message, at);
  if (code === 'ECONNRESET' || /^Connection terminated/.test(message))
    return `lost the connection to PostgreSQL${at} (${message}): run this again`;
  if (typeof code === 'string' && code.startsWith('Z_')) return `input is not readable gzip: ${message}`;
  return message;
}
