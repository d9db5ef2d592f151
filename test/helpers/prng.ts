/**
 * mulberry32: a tiny seeded PRNG, so fuzz inputs and benchmark trees are
 * the same on every run. Not for bulk bytes or anything secret.
 *
 * @example const random = seededRandom(42); random(); // a float in [0, 1)
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
