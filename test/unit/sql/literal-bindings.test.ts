import knex from 'knex';
import { describe, expect, it } from 'vitest';
import { positionalQuery, sqlLiteral, withLiteralBindings } from '../../../sql/literal-bindings';

// A knex instance that never connects: toSQL() only needs the pg dialect.
const db = knex({ client: 'pg' });

describe('literal bindings for COPY', () => {
  it("quotes every value with the driver's escaping, so none can end its literal early", () => {
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
      a: ['x', 'y'],
      b: 'P30D',
      c: null,
    });
    expect(sql).toBe("select array['x', 'y']::text[] as a, 'P30D'::interval as b, null as c, array['x', 'y']::text[] as again");
  });
});

describe('named bindings for the pg driver', () => {
  it('numbers each name once in order of first use, leaving casts and quoted text alone', () => {
    const query = positionalQuery(
      "select :from::timestamptz, to_char(:from::timestamptz, 'HH24:MI:SS'), :lines::bigint[] where x = ':not_a_binding'",
      { from: '2026-01-01T00:00:00Z', lines: ['1', '2'], unused: 3 },
    );
    expect(query.text).toBe("select $1::timestamptz, to_char($1::timestamptz, 'HH24:MI:SS'), $2::bigint[] where x = ':not_a_binding'");
    expect(query.values).toEqual(['2026-01-01T00:00:00Z', ['1', '2']]);
  });

  it('refuses a statement that names a binding it was not given', () => {
    expect(() => positionalQuery('select :missing', {})).toThrow('no value bound for :missing');
  });
});
