import { seededRandom as uniform } from '../stats/seeded-random';

/**
 * A seeded pseudo-random stream (mulberry32) and normal deviates from it, so a simulation
 * gives the same numbers every time it runs with the same seed: an activity retried, or a
 * diagnosis repeated, reports the same interval.
 */
export interface SeededRandom {
  /** Uniform on [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
}

export function seededRandom(seed: number): SeededRandom {
  const next = uniform(seed);
  return {
    next,
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}
