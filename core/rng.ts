/**
 * A small seeded random number generator (mulberry32), so shuffles,
 * augmentation and Bernoulli draws repeat exactly under a seed.
 * @module
 */

/** A seeded pseudo-random source. */
export class Rng {
  #state: number;

  /** @param seed any integer; the same seed gives the same sequence. */
  constructor(seed = 0) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** A float uniform in [0, 1).
   * @example
   * ```ts
   * const r = new Rng(1); const u = r.next();
   * ```
   */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer uniform in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A standard normal draw (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A new generator derived from this one (independent stream for a sub-task). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296));
  }
}
