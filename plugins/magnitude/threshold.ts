/**
 * The seed's global threshold and Bernoulli selection, over pruning units
 * (single weights or whole kernels): sort the scores ascending,
 * τ = sorted[⌊p_prune·N⌋] (+∞ when that index is N, i.e. p_prune = 1), the
 * candidates are the units with score < τ (strict), and each candidate is
 * pruned with probability p_bern, one seeded draw per candidate in order.
 *
 * @example
 * ```ts
 * const tau = globalThreshold(Float32Array.from([3, 1, 2]), 0.5); // 2
 * const keep = selectKeep(Float32Array.from([3, 1, 2]), tau, 1, new Rng(0)); // [1, 0, 1]
 * ```
 * @module
 */
import type { Rng } from "@shears/core";

/** τ = sorted(scores)[⌊pPrune·N⌋], or +∞ past the end. */
export function globalThreshold(scores: Float32Array, pPrune: number): number {
  const k = Math.floor(pPrune * scores.length);
  if (k >= scores.length) return Infinity;
  return Float32Array.from(scores).sort()[k];
}

/**
 * 1 (keep) / 0 (prune) per unit: a unit is pruned when score < τ and its
 * Bernoulli draw (`rng.next() < pBern`) says so. Draws are taken for
 * candidates only, in order.
 */
export function selectKeep(
  scores: Float32Array,
  tau: number,
  pBern: number,
  rng: Rng,
): Float32Array {
  const keep = new Float32Array(scores.length).fill(1);
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] < tau && rng.next() < pBern) keep[i] = 0;
  }
  return keep;
}

/** The scores of all units, concatenated in the given order (one typed array). */
export function concatScores(parts: Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}
