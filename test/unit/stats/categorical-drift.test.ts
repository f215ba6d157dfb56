import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeCategoricalDrift } from '../../../stats/categorical-drift';
import { chiSquaredSurvival } from '../../../stats/chi-squared';
import { PSI_FLOOR } from '../../../stats/drift';

interface CategoricalCase {
  name: string;
  reference: string[];
  current: string[];
  categories: string[];
  reference_counts: number[];
  current_counts: number[];
  psi: number;
  jensen_shannon: number;
  chi_squared: number;
  chi_squared_p_value: number;
  chi_squared_dof: number;
  l_infinity: number;
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'drift', 'categorical.json'), 'utf8')) as {
  floor: number;
  cases: CategoricalCase[];
  chi2_sf: Array<{ x: number; dof: number; sf: number }>;
};

const counts = (categories: string[], values: number[]) => Object.fromEntries(categories.map((category, k) => [category, values[k]!]));
/** Equal to a relative 1e-9 (p-values run down to 1e-80). */
const close = (actual: number, expected: number) => Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(expected), 1e-300);

describe('chiSquaredSurvival', () => {
  it('equals scipy.stats.chi2.sf to a relative 1e-9 from x = 0.01 to 200 and dof 1 to 120', () => {
    for (const point of fixture.chi2_sf) {
      expect(close(chiSquaredSurvival(point.x, point.dof), point.sf), `x ${point.x} dof ${point.dof}`).toBe(true);
    }
  });
});

describe('computeCategoricalDrift', () => {
  it('uses the floor the fixtures were generated with', () => {
    expect(fixture.floor).toBe(PSI_FLOOR);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    'gives SciPy Jensen–Shannon, chi-squared (statistic, p-value, dof), L-infinity and PSI over categories on %s',
    (_name, c) => {
      const result = computeCategoricalDrift(counts(c.categories, c.reference_counts), counts(c.categories, c.current_counts));
      expect(result.reason).toBeNull();
      expect(result.categories).toEqual(c.categories);
      expect(Math.abs(result.jensen_shannon! - c.jensen_shannon)).toBeLessThan(1e-9);
      expect(Math.abs(result.chi_squared! - c.chi_squared)).toBeLessThan(1e-9);
      expect(close(result.chi_squared_p_value!, c.chi_squared_p_value), `p ${result.chi_squared_p_value} vs ${c.chi_squared_p_value}`).toBe(
        true,
      );
      expect(result.chi_squared_dof).toBe(c.chi_squared_dof);
      expect(Math.abs(result.l_infinity! - c.l_infinity)).toBeLessThan(1e-12);
      expect(Math.abs(result.psi! - c.psi)).toBeLessThan(1e-9);
    },
  );

  it('counts a category missing from one side as 0 there, in sorted order', () => {
    const result = computeCategoricalDrift({ fr: 3, de: 1 }, { pl: 2, de: 2 });
    expect(result.categories).toEqual(['de', 'fr', 'pl']);
    expect(result.reference_shares).toEqual([0.25, 0.75, 0]);
    expect(result.current_shares).toEqual([0.5, 0, 0.5]);
    expect(result.l_infinity).toBe(0.75);
  });

  it('returns null measures with a reason when a side has no values', () => {
    expect(computeCategoricalDrift({}, { a: 2 })).toMatchObject({ jensen_shannon: null, chi_squared: null, reason: 'no reference values' });
    expect(computeCategoricalDrift({ a: 2 }, {})).toMatchObject({ l_infinity: null, psi: null, reason: 'no current values' });
  });
});
