import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computePsi, PSI_FLOOR } from '../../../stats/drift';

interface DriftCase {
  name: string;
  reference_counts: number[];
  current_counts: number[];
  psi: number;
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'drift', 'drift.json'), 'utf8')) as {
  floor: number;
  cases: DriftCase[];
};

describe('computePsi', () => {
  it('uses the floor the fixtures were generated with', () => {
    expect(fixture.floor).toBe(PSI_FLOOR);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('equals NumPy to 1e-9 on %s', (_name, c) => {
    const result = computePsi(c.reference_counts, c.current_counts);
    expect(result.reason).toBeNull();
    expect(Math.abs(result.psi! - c.psi)).toBeLessThan(1e-9);
  });

  it('is zero for identical shares and positive for any shift', () => {
    expect(computePsi([5, 5, 10], [10, 10, 20]).psi).toBe(0);
    expect(computePsi([5, 5, 10], [10, 5, 5]).psi).toBeGreaterThan(0);
  });

  it('floors an empty bin at 1e-4 instead of returning Infinity', () => {
    const psi = computePsi([0, 10], [5, 5]).psi!;
    expect(psi).toBeCloseTo((0.5 - 1e-4) * Math.log(0.5 / 1e-4) + (0.5 - 1) * Math.log(0.5 / 1), 12);
  });

  it('returns null with a reason when a side has no values', () => {
    expect(computePsi([0, 0], [1, 2])).toMatchObject({ psi: null, reason: 'no reference values' });
    expect(computePsi([1, 2], [0, 0])).toMatchObject({ psi: null, reason: 'no current values' });
  });
});
