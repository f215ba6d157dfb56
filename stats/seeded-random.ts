/**
 * Seeded pseudo-random numbers (mulberry32), so a bootstrap, a simulation or a generated
 * example gives the same numbers on every run for the same seed: an activity retried, or a
 * diagnosis repeated, reports the same interval.
 */

/** mulberry32: uniform in [0, 1) with 32 bits. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeededRandom {
  /** Uniform on [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
}

/** A mulberry32 stream with normal deviates drawn from it. */
export function seededRandom(seed: number): SeededRandom {
  const next = mulberry32(seed);
  return {
    next,
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}
