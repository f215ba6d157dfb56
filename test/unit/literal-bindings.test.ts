import knex from 'knex';
import { describe, expect, it } from 'vitest';
import { sqlLiteral, withLiteralBindings } from '../../sql/literal-bindings';

// A knex instance that never connects: toSQL() only needs the pg dialect.
const db = knex({ client: 'pg' });

describe('literal bindings for COPY', () => {
  it('quotes every value with the driver\'s escaping, so none can end its literal early', () => {
    expect(sqlLiteral("it's")).toBe("'it''s'");
    expect(sqlLiteral('back\\slash')).toBe(" E'back\\\\slash'");
    expect(sqlLiteral(null)).toBe('null');
    expect(sqlLiteral(true)).toBe('true');
    expect(sqlLiteral(0.5)).toBe("'0.5'");
    expect(sqlLiteral(['chargeback', "o'neil"])).toBe("array['chargeback', 'o''neil']");
    expect(sqlLiteral([])).toBe("'{}'");
    expect(() => sqlLiteral(Number.NaN)).toThrow(/no SQL literal/);
    expect(() => sqlLiteral({})).toThrow(/no SQL literal/);
  });

  it('puts each named binding in place, casts and all', () => {
    const sql = withLiteralBindings(db, 'select :a::text[] as a, :b::interval as b, :c as c, :a::text[] as again', {
      a: ['x', 'y'], b: 'P30D', c: null,
    });
    expect(sql).toBe("select array['x', 'y']::text[] as a, 'P30D'::interval as b, null as c, array['x', 'y']::text[] as again");
  });
});
