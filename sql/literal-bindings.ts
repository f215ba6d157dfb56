/**
 * `COPY (query) TO STDOUT` takes no bound parameters, so a query it streams carries its values
 * as literals. This writes them from the same named bindings every other statement binds, each
 * quoted by the driver's own `escapeLiteral` (or written as a keyword: null, true, false), so
 * the COPY text is exactly the bound statement with its values in place, and no value can end
 * a literal early.
 */
import type { Knex } from 'knex';
import pg from 'pg';

/** A value as an SQL literal; the statement's own casts (`::text[]`, `::interval`) type it. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`no SQL literal for the number ${value}`);
    return pg.escapeLiteral(String(value));
  }
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "'{}'";
    return `array[${value.map((item) => {
      if (typeof item !== 'string') throw new Error('only arrays of strings are written as literals');
      return pg.escapeLiteral(item);
    }).join(', ')}]`;
  }
  throw new Error(`no SQL literal for a ${typeof value}`);
}

/** `sql` with its knex named bindings (`:name`) replaced by their values as literals. */
export function withLiteralBindings(db: Knex, sql: string, bindings: Record<string, unknown>): string {
  const native = db.raw(sql, bindings).toSQL().toNative();
  return native.sql.replace(/\$(\d+)/g, (_, position: string) => sqlLiteral(native.bindings[Number(position) - 1]));
}
