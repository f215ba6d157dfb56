import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { computeDrift, UnknownFeatureError } from '../../activities/diagnose/drift';
import { useTestDatabase } from '../support/database';
import { runHindsightInProcess } from '../support/run-cli';
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

interface CategoricalCase {
  name: string;
  reference: string[];
  current: string[];
  categories: string[];
  psi: number;
  jensen_shannon: number;
  chi_squared: number;
  chi_squared_p_value: number;
  chi_squared_dof: number;
  l_infinity: number;
}
const categorical = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'drift', 'categorical.json'), 'utf8')) as {
  cases: CategoricalCase[];
};

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

/** Each categorical case is one model: its values as feature `band`, as `segment.band` and as the region, plus a null region. */
function categoricalPredictionsFor(c: CategoricalCase): object[] {
  const rows = (values: string[], version: string, start: number) =>
    values.map((value, i) => ({
      prediction_id: randomUUID(),
      model_name: `drift-cat-${c.name}`,
      model_version: version,
      environment: 'prod',
      region: value,
      ts_pred: new Date(start + i * 60_000).toISOString(),
      score: 0.5,
      entity_ids: {},
      segment: { band: value },
      features: { band: value },
    }));
  const unlabeled = { ...rows(['ignored'], 'v2', FEB)[0]!, region: null, segment: {}, features: { band: 7 }, prediction_id: randomUUID() };
  return [
    ...rows(c.reference, 'v1', JAN),
    ...rows(c.current, 'v2', FEB),
    { ...unlabeled, ts_pred: new Date(FEB + 86_400_000 * 27).toISOString() },
  ];
}

beforeAll(async () => {
  for (const c of fixture.cases) await storeRows(testDb.db, 'predictions', predictionsFor(c));
  for (const c of categorical.cases) await storeRows(testDb.db, 'predictions', categoricalPredictionsFor(c));
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
      expect(document.variables.map((v) => [v.variable, v.kind])).toEqual([
        ['score', 'numeric'],
        ['features.country', 'categorical'],
        ['features.x', 'numeric'],
      ]);
      for (const variable of document.variables.filter((v) => v.kind === 'numeric')) {
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

  it('refuses a feature that is neither numeric nor string-valued in the reference cohort, and an unknown slice dimension', async () => {
    await expect(computeDrift(testDb.db, input(fixture.cases[0]!, ['flag']))).rejects.toThrow(UnknownFeatureError);
    await expect(computeDrift(testDb.db, input(fixture.cases[0]!, ['absent']))).rejects.toThrow(/absent.*categorical: country/);
    await expect(computeDrift(testDb.db, { ...input(fixture.cases[0]!), slices: ['segment.a-b'] })).rejects.toThrow(
      /not a slice dimension drift compares: segment\.a-b/,
    );
  });

  it.each(categorical.cases.map((c) => [c.name, c] as const))(
    'gives SciPy Jensen–Shannon, chi-squared, L-infinity and PSI over categories for a string feature and two slice dimensions on %s',
    async (_name, c) => {
      const document = await computeDrift(testDb.db, {
        ...input({ name: `cat-${c.name}` } as DriftCase, ['band']),
        current: { model_version: 'v2', environment: 'prod', ...window(FEB) },
        slices: ['region', 'segment.band'],
      });
      expect(document.variables.map((v) => [v.variable, v.kind])).toEqual([
        ['score', 'numeric'],
        ['features.band', 'categorical'],
        ['region', 'categorical'],
        ['segment.band', 'categorical'],
      ]);
      for (const v of document.variables.slice(1)) {
        // The current cohort's one prediction with a numeric band, no region and no segment is left out.
        expect([v.n_reference, v.n_current]).toEqual([c.reference.length, c.current.length]);
        expect(v.categories.map((category) => category.value)).toEqual(c.categories);
        expect(Math.abs(v.jensen_shannon! - c.jensen_shannon), `${v.variable} js`).toBeLessThan(1e-9);
        expect(Math.abs(v.chi_squared! - c.chi_squared), `${v.variable} chi2`).toBeLessThan(1e-9);
        expect(Math.abs(v.chi_squared_p_value! - c.chi_squared_p_value), `${v.variable} p`).toBeLessThanOrEqual(
          1e-9 * c.chi_squared_p_value,
        );
        expect(v.chi_squared_dof).toBe(c.chi_squared_dof);
        expect(Math.abs(v.l_infinity! - c.l_infinity), `${v.variable} linf`).toBeLessThan(1e-12);
        expect(Math.abs(v.psi! - c.psi), `${v.variable} psi`).toBeLessThan(1e-9);
        expect([v.ks, v.bins]).toEqual([null, []]);
      }
    },
  );

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
  it('takes --slices and prints Jensen–Shannon, chi-squared and L-infinity for categorical variables', async () => {
    const c = categorical.cases.find((k) => k.name === 'salary_band_shift')!;
    const args = ['--model', `drift-cat-${c.name}`, '--version', 'v2', '--from', window(FEB).start, '--to', window(FEB).end];
    const reference = ['--reference-version', 'v1', '--reference-from', window(JAN).start, '--reference-to', window(JAN).end];
    const env = { DATABASE_URL: testDb.url };
    const text = await runHindsightInProcess(['drift', ...args, ...reference, '--slices', 'segment.band'], env);
    // The one current prediction whose band is a number (7) is left out, and said.
    expect(text.stderr).toBe(
      'hindsight: drift: warning: 1 current value(s) of features.band are not strings, left out of its measures; ' +
        'its type differs between the cohorts or within one\n',
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`segment.band`);
    expect(text.stdout).toContain(
      `js ${c.jensen_shannon.toFixed(4)}  chi2 ${c.chi_squared.toFixed(4)} (dof 4, p ${c.chi_squared_p_value.toPrecision(3)})`,
    );
    expect(text.stdout).toContain(`linf ${c.l_infinity.toFixed(4)}`);
    const bad = await runHindsightInProcess(['drift', ...args, ...reference, '--slices', 'segment.band,model_version'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--slices: each slice dimension must be region, environment or segment.<key>');
    const unknown = await runHindsightInProcess(['drift', ...args, ...reference, '--features', 'colour'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('drift: --features: not a numeric or string-valued feature of the reference cohort: colour');
    expect(unknown.stderr).not.toMatch(/select|\n\s+at /);
  });

  it('says on stderr which cohort has no scored predictions, and exits 1', async () => {
    const c = categorical.cases.find((k) => k.name === 'salary_band_shift')!;
    const args = ['--model', `drift-cat-${c.name}`, '--version', 'v9', '--from', window(FEB).start, '--to', window(FEB).end];
    const reference = ['--reference-version', 'v1', '--reference-from', window(JAN).start, '--reference-to', window(JAN).end];
    const result = await runHindsightInProcess(['drift', ...args, ...reference], { DATABASE_URL: testDb.url });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('score');
    expect(result.stderr).toContain(
      `drift: the current cohort [${new Date(window(FEB).start).toISOString()}, ${new Date(window(FEB).end).toISOString()}) ` +
        `has no scored predictions of drift-cat-${c.name} v9; its measures are null`,
    );
    expect(result.stderr).not.toContain('reference cohort');
  });

  it('says how many values of a feature are of another type than its kind, left out, when the type changed between the cohorts', async () => {
    const model = 'drift-type-change';
    const rows = (version: string, start: number, values: unknown[]) =>
      values.map((value, i) => ({
        prediction_id: randomUUID(),
        model_name: model,
        model_version: version,
        ts_pred: new Date(start + i * 60_000).toISOString(),
        score: 0.5,
        entity_ids: {},
        segment: {},
        features: { amount: value, channel: i % 2 === 0 ? 'web' : 'app' },
      }));
    // amount: numbers in January; in February 3 numbers and 7 strings ("12.50" from a new client).
    await storeRows(testDb.db, 'predictions', [
      ...rows(
        'v1',
        JAN,
        Array.from({ length: 10 }, (_, i) => i + 1),
      ),
      ...rows('v1', FEB, [1, 2, 3, ...Array.from({ length: 7 }, (_, i) => `${i + 1}.50`)]),
    ]);
    const args = ['--model', model, '--version', 'v1', '--from', window(FEB).start, '--to', window(FEB).end];
    const reference = ['--reference-from', window(JAN).start, '--reference-to', window(JAN).end];
    const result = await runHindsightInProcess(['drift', ...args, ...reference, '--json'], { DATABASE_URL: testDb.url });
    expect(result.code).toBe(0);
    const amount = JSON.parse(result.stdout).variables.find((v: { variable: string }) => v.variable === 'features.amount');
    expect(amount).toMatchObject({ kind: 'numeric', n_current: 3, other_type: { reference: 0, current: 7 } });
    const channel = JSON.parse(result.stdout).variables.find((v: { variable: string }) => v.variable === 'features.channel');
    expect(channel.other_type).toEqual({ reference: 0, current: 0 });
    expect(result.stderr).toBe(
      'hindsight: drift: warning: 7 current value(s) of features.amount are not numbers, left out of its measures; ' +
        'its type differs between the cohorts or within one\n',
    );
  });

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
