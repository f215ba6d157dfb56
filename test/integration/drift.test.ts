import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeDrift, UnknownFeatureError } from '../../activities/diagnose/drift';
import { useTestDatabase } from '../support/database';
import { storeRows } from '../support/store-rows';

interface DriftCase {
  name: string;
  reference: number[];
  current: number[];
  edges: number[];
  reference_counts: number[];
  current_counts: number[];
  psi: number;
  ks: number;
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'drift', 'drift.json'), 'utf8')) as { cases: DriftCase[] };

const testDb = useTestDatabase();
const JAN = Date.parse('2026-01-01T00:00:00Z');
const FEB = Date.parse('2026-02-01T00:00:00Z');
const window = (start: number) => ({ start: new Date(start).toISOString(), end: new Date(start + 28 * 86_400_000).toISOString() });

/** Each case is one model: its values as the score and as feature `x`, reference v1 in January, current v2 in February. */
function predictionsFor(c: DriftCase): object[] {
  const rows = (values: number[], version: string, start: number) =>
    values.map((value, i) => ({
      prediction_id: randomUUID(),
      model_name: `drift-${c.name}`,
      model_version: version,
      environment: 'prod',
      ts_pred: new Date(start + i * 60_000).toISOString(),
      score: value,
      entity_ids: {},
      segment: {},
      features: { x: value, country: 'de', flag: true },
    }));
  return [...rows(c.reference, 'v1', JAN), ...rows(c.current, 'v2', FEB)];
}

beforeAll(async () => {
  for (const c of fixture.cases) await storeRows(testDb.db, 'predictions', predictionsFor(c));
});

const input = (c: DriftCase, features?: string[]) => ({
  model_name: `drift-${c.name}`,
  reference: { model_version: 'v1', environment: null, ...window(JAN) },
  current: { model_version: 'v2', environment: 'prod', ...window(FEB) },
  ...(features ? { features } : {}),
});

describe('computeDrift', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    'gives NumPy/SciPy PSI, KS, edges and bin shares to 1e-9 for the score and a numeric feature on %s',
    async (_name, c) => {
      const document = await computeDrift(testDb.db, input(c));
      expect(document.variables.map((v) => v.variable)).toEqual(['score', 'features.x']);
      for (const variable of document.variables) {
        expect(variable.n_reference).toBe(c.reference.length);
        expect(variable.n_current).toBe(c.current.length);
        expect(Math.abs(variable.psi! - c.psi), `${variable.variable} psi`).toBeLessThan(1e-9);
        expect(Math.abs(variable.ks! - c.ks), `${variable.variable} ks`).toBeLessThan(1e-9);
        const edgeGaps = variable.bins.slice(0, 9).map((bin, k) => Math.abs(bin.upper! - c.edges[k]!));
        expect(Math.max(...edgeGaps), `${variable.variable} edges`).toBeLessThan(1e-9);
        expect(variable.bins[0]!.lower).toBeNull();
        expect(variable.bins[9]!.upper).toBeNull();
        expect(variable.bins.map((bin) => bin.current_share)).toEqual(c.current_counts.map((count) => count / c.current.length));
      }
    },
  );

  it('refuses a feature that is not a numeric key of the reference cohort', async () => {
    await expect(computeDrift(testDb.db, input(fixture.cases[0]!, ['country']))).rejects.toThrow(UnknownFeatureError);
  });

  it('returns null PSI and KS with reasons when the current cohort is empty', async () => {
    const c = fixture.cases[0]!;
    const document = await computeDrift(testDb.db, { ...input(c), current: { model_version: 'v9', environment: null, ...window(FEB) } });
    expect(document.variables[0]).toMatchObject({
      psi: null,
      ks: null,
      n_current: 0,
      undefined_metrics: { psi: 'no current values', ks: 'no current values' },
    });
  });
});

describe('hindsight drift', () => {
  it('prints the drift document for a reference version and window against the current cohort', async () => {
    const { spawnSync } = await import('node:child_process');
    const c = fixture.cases[0]!;
    const result = spawnSync(
      process.execPath,
      [
        path.join(__dirname, '..', '..', 'bin', 'hindsight.js'),
        'drift',
        '--model',
        `drift-${c.name}`,
        '--version',
        'v2',
        '--from',
        window(FEB).start,
        '--to',
        window(FEB).end,
        '--reference-version',
        'v1',
        '--reference-from',
        window(JAN).start,
        '--reference-to',
        window(JAN).end,
        '--features',
        'x',
        '--json',
      ],
      { encoding: 'utf8', env: { ...process.env, DATABASE_URL: testDb.url } },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const document = JSON.parse(result.stdout);
    expect(document.variables.map((v: { variable: string }) => v.variable)).toEqual(['score', 'features.x']);
    expect(Math.abs(document.variables[1].psi - c.psi)).toBeLessThan(1e-9);
  });
});
