/**
 * The points of a sweep over every combination of several axes (prune
 * group x sparsity x pruner, say): core's `sweep` runs `grid.size` points,
 * and each stage reads its point's values with `grid.at(ctx)`.
 * @module
 */
import type { RunContext } from "../pipeline.ts";

/** Every combination of the axes' values, the last axis varying fastest. */
export interface Grid<A extends Record<string, readonly unknown[]>> {
  /** Number of points: the product of the axes' lengths. */
  size: number;
  /** The values of point `i` (from 0). */
  point(i: number): { [K in keyof A]: A[K][number] };
  /** The values of the sweep's current point (`ctx.step.index`). */
  at(ctx: RunContext): { [K in keyof A]: A[K][number] };
}

/**
 * A grid of sweep points over `axes`.
 *
 * @example
 * ```ts
 * const g = grid({ group: [0, 1], sparsity: [0.3, 0.5], method: [0, 1] });
 * g.size; // 8
 * g.point(3); // { group: 0, sparsity: 0.5, method: 1 }
 * sweep({ points: g.size, stages: [mask({ ..., budget: (ctx) => ({ keepRatio: 1 - g.at(ctx).sparsity }) })] });
 * ```
 */
export function grid<A extends Record<string, readonly unknown[]>>(axes: A): Grid<A> {
  const keys = Object.keys(axes) as (keyof A)[];
  const size = keys.reduce((n, k) => n * axes[k].length, 1);
  const point = (i: number) => {
    const out = {} as { [K in keyof A]: A[K][number] };
    for (const k of [...keys].reverse()) {
      const values = axes[k];
      out[k] = values[i % values.length];
      i = Math.floor(i / values.length);
    }
    return out;
  };
  return { size, point, at: (ctx) => point(ctx.step.index) };
}
