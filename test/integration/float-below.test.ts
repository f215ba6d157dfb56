import { describe, expect, it } from 'vitest';
import { FLOAT_BELOW } from '../../sql/binary-metrics';
import { useTestDatabase } from '../support/database';

/**
 * FLOAT_BELOW decides which scores count as strictly below a positive's score or a
 * threshold in the rank metrics, so it must give the float64 just below x, bit for bit.
 * The reference steps the IEEE-754 bit pattern by one.
 */
const testDb = useTestDatabase();

function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  const bits = new BigInt64Array(new Float64Array([x]).buffer);
  bits[0] = bits[0]! + (x > 0 ? -1n : 1n);
  return new Float64Array(bits.buffer)[0]!;
}

/** A deterministic spread of doubles: seeded LCG bits reinterpreted as float64, finite ones only. */
function scatteredDoubles(count: number): number[] {
  const out: number[] = [];
  let state = 0x2545f4914f6cdd1dn;
  while (out.length < count) {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    const x = new Float64Array(new BigUint64Array([state]).buffer)[0]!;
    if (Number.isFinite(x)) out.push(x);
  }
  return out;
}

async function floatBelow(xs: number[]): Promise<number[]> {
  const rows = (
    await testDb.db.raw(`select ${FLOAT_BELOW('x')} as below from unnest(:xs::float8[]) with ordinality as u(x, i) order by i`, { xs })
  ).rows;
  return rows.map((row: { below: number }) => row.below);
}

describe('FLOAT_BELOW (the float8 just below a value, in SQL)', () => {
  it('is exact for scores in [0, 1], thresholds and their neighbours', async () => {
    const grid = Array.from({ length: 21 }, (_, j) => j / 20);
    const xs = [
      ...grid,
      ...grid.filter((x) => x > 0).map(nextDown),
      0.1 * 3,
      0.3,
      1e-15,
      1 - 1e-15,
      Math.random(),
      ...Array.from({ length: 500 }, (_, i) => (i * 0.618033988749895) % 1),
    ];
    expect(await floatBelow(xs)).toEqual(xs.map(nextDown));
  });

  it('is exact at powers of two (where the spacing halves), for negatives, subnormals and huge values', async () => {
    const powers = Array.from({ length: 2098 }, (_, i) => 2 ** (i - 1074));
    const xs = [
      ...powers,
      ...powers.map((x) => -x),
      ...powers.map((x) => x * 1.5),
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      2 ** -1022 - Number.MIN_VALUE,
      2 ** -969,
      nextDown(2 ** -969),
      Number.MAX_VALUE,
    ];
    expect(await floatBelow(xs)).toEqual(xs.map(nextDown));
  });

  it('is exact on a scatter of doubles across the whole finite range', async () => {
    const xs = scatteredDoubles(5000).filter((x) => x !== -Number.MAX_VALUE);
    expect(await floatBelow(xs)).toEqual(xs.map(nextDown));
  });
});
