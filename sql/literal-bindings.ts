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
    return `array[${value
      .map((item) => {
        if (typeof item !== 'string') throw new Error('only arrays of strings are written as literals');
        return pg.escapeLiteral(item);
      })
      .join(', ')}]`;
  }
  throw new Error(`no SQL literal for a ${typeof value}`);
}

/** `sql` with its knex named bindings (`:name`) replaced by their values as literals. */
export function withLiteralBindings(db: Knex, sql: string, bindings: Record<string, unknown>): string {
  const native = db.raw(sql, bindings).toSQL().toNative();
  return native.sql.replace(/\$(\d+)/g, (_, position: string) => sqlLiteral(native.bindings[Number(position) - 1]));
}

/**
 * A statement written with named bindings (`:name`, as every statement in sql/ is) in the pg
 * driver's own form, `$1 … $n` with the values in order, for the ingest path that runs on a
 * raw pg connection (COPY). Text inside single quotes is left alone, and `::type` casts are not
 * bindings. A name the bindings lack is an error, so no statement runs with a hole in it.
 */
export function positionalQuery(sql: string, bindings: Record<string, unknown>): { text: string; values: unknown[] } {
  const positions = new Map<string, number>();
  const values: unknown[] = [];
  const text = sql.replace(/'(?:[^']|'')*'|(?<!:):([A-Za-z_][A-Za-z0-9_]*)/g, (match, name: string | undefined) => {
    if (name === undefined) return match;
    if (!(name in bindings)) throw new Error(`no value bound for :${name}`);
    let position = positions.get(name);
    if (position === undefined) {
      values.push(bindings[name]);
      position = values.length;
      positions.set(name, position);
    }
    return `$${position}`;
  });
  return { text, values };
}
