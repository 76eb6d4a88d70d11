/**
 * Seeded randomness: the same seed gives the same split, data or fuzz case.
 * The one mulberry32 of the repository: examples, tests (test/helpers),
 * scripts and benchmarks import it from here.
 */

/**
 * A small deterministic PRNG (mulberry32): returns floats in [0, 1).
 *
 * @example
 * const next = rng(1);
 * next(); // 0.627...
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A shuffled copy of `items` (Fisher-Yates driven by {@link rng}).
 *
 * @example
 * shuffled(['a', 'b', 'c'], 7); // the same order for the same seed
 */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = rng(seed);
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
