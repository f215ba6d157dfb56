/**
 * Brier score, log loss and ECE of probabilities against 0/1 labels, held in memory: the
 * before/after numbers of a calibrator on its held-out rows. The same definitions as the
 * evaluation's (docs/metrics.md): log loss clips probabilities to [1e-15, 1 − 1e-15], ECE
 * weighs the 10 uniform bins of `calibration_curve` by their counts.
 */
import type { BinSums } from './bin-sums';
import { expectedCalibrationError, uniformCalibration, uniformEdge } from './calibration';

export interface ProbabilityQuality {
  brier: number;
  log_loss: number;
  ece: number;
}

const CLIP = 1e-15;

/** `numpy.searchsorted(linspace(0, 1, 11)[1:-1], p)`: the number of inner edges strictly below p. */
function uniformBin(p: number): number {
  let bin = 0;
  while (bin < 9 && uniformEdge(bin + 1) < p) bin += 1;
  return bin;
}

/** Needs at least one row; probabilities must lie in [0, 1]. */
export function probabilityQuality(probabilities: ArrayLike<number>, labels: ArrayLike<number>): ProbabilityQuality {
  const n = probabilities.length;
  if (n === 0 || n !== labels.length) throw new RangeError(`quality of ${n} probabilities against ${labels.length} labels`);
  let brier = 0;
  let logLoss = 0;
  const bins: BinSums[] = Array.from({ length: 10 }, (_, bin) => ({
    bin,
    count: 0,
    positives: 0,
    score_sum: 0,
    min_score: Infinity,
    max_score: -Infinity,
  }));
  for (let i = 0; i < n; i++) {
    const p = probabilities[i]!;
    const y = labels[i]!;
    brier += (p - y) ** 2;
    const q = Math.min(Math.max(p, CLIP), 1 - CLIP);
    logLoss -= y === 1 ? Math.log(q) : Math.log(1 - q);
    const bin = bins[uniformBin(p)]!;
    bin.count += 1;
    bin.positives += y;
    bin.score_sum += p;
    bin.min_score = Math.min(bin.min_score, p);
    bin.max_score = Math.max(bin.max_score, p);
  }
  return { brier: brier / n, log_loss: logLoss / n, ece: expectedCalibrationError(uniformCalibration(bins))! };
}
