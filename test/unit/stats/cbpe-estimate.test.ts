import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isotonicProbability } from '../../../client/calibrator';
import { CHUNK_METRICS, estimateChunk, realizedChunk, referenceBand, type ChunkMetrics } from '../../../stats/cbpe-estimate';
import { fitIsotonic } from '../../../stats/isotonic';

interface Rows {
  scores: number[];
  labels: number[];
  flagged: number[];
}
interface Chunk extends Rows {
  calibrated: number[];
  estimated: ChunkMetrics;
  estimated_raw: ChunkMetrics;
  realized: ChunkMetrics;
}
const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'estimate', 'cbpe.json'), 'utf8')) as {
  reference: Rows & { chunk_size: number };
  reference_chunks: ChunkMetrics[];
  band: Record<string, [number, number]>;
  chunks: Chunk[];
};

function expectMetrics(actual: ChunkMetrics, expected: ChunkMetrics, what: string): void {
  for (const metric of CHUNK_METRICS) expect(Math.abs(actual[metric]! - expected[metric]!), `${what} ${metric}`).toBeLessThan(1e-9);
  for (const cell of ['tp', 'fp', 'fn', 'tn'] as const) {
    expect(Math.abs(actual.confusion_matrix[cell] - expected.confusion_matrix[cell]), `${what} ${cell}`).toBeLessThan(1e-9);
  }
}

const calibrator = fitIsotonic(fixture.reference.scores, fixture.reference.labels);
const calibrate = (scores: number[]) => scores.map((score) => isotonicProbability(calibrator, score));
const meanAbsoluteError = (a: ChunkMetrics, b: ChunkMetrics) =>
  CHUNK_METRICS.reduce((sum, metric) => sum + Math.abs(a[metric]! - b[metric]!), 0) / CHUNK_METRICS.length;

describe('estimateChunk (CBPE) after isotonic calibration on the reference', () => {
  it.each(fixture.chunks.map((c, k) => [k, c] as const))(
    'equals scikit-learn IsotonicRegression + the CBPE formula in NumPy to 1e-9 on chunk %i',
    (_k, c) => {
      const probabilities = calibrate(c.scores);
      expect(Math.max(...probabilities.map((p, i) => Math.abs(p - c.calibrated[i]!)))).toBeLessThan(1e-9);
      expectMetrics(estimateChunk(probabilities, c.flagged), c.estimated, 'calibrated');
      expectMetrics(estimateChunk(c.scores, c.flagged), c.estimated_raw, 'raw');
    },
  );

  it('is closer to the realized metrics than the raw scores’ estimate on the miscalibrated model, chunk by chunk', () => {
    for (const c of fixture.chunks) {
      const realized = realizedChunk(c.scores, c.labels, c.flagged);
      const calibrated = meanAbsoluteError(estimateChunk(calibrate(c.scores), c.flagged), realized);
      const raw = meanAbsoluteError(estimateChunk(c.scores, c.flagged), realized);
      expect(calibrated).toBeLessThan(raw);
    }
  });
});

describe('realizedChunk and referenceBand', () => {
  it.each(fixture.chunks.map((c, k) => [k, c] as const))('realizedChunk equals scikit-learn to 1e-9 on chunk %i', (_k, c) => {
    expectMetrics(realizedChunk(c.scores, c.labels, c.flagged), c.realized, 'realized');
  });

  it('the band is the reference chunks’ mean ± 3 standard deviations (numpy.std), clipped to [0, 1]', () => {
    const { scores, labels, flagged, chunk_size: size } = fixture.reference;
    const chunks = Array.from({ length: scores.length / size }, (_, k) =>
      realizedChunk(
        scores.slice(k * size, (k + 1) * size),
        labels.slice(k * size, (k + 1) * size),
        flagged.slice(k * size, (k + 1) * size),
      ),
    );
    chunks.forEach((chunk, k) => expectMetrics(chunk, fixture.reference_chunks[k]!, `reference chunk ${k}`));
    const band = referenceBand(chunks);
    for (const metric of CHUNK_METRICS) {
      expect(Math.abs(band[metric]![0] - fixture.band[metric]![0]), `${metric} low`).toBeLessThan(1e-9);
      expect(Math.abs(band[metric]![1] - fixture.band[metric]![1]), `${metric} high`).toBeLessThan(1e-9);
    }
    expect(referenceBand(chunks.slice(0, 1)).recall).toBeNull();
  });
});
