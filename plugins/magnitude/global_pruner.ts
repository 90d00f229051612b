/**
 * The `global` pruner (DWP seed): one global threshold over every pruning
 * unit of the scores (single weights from `abs`, whole kernels from
 * `kernel_l1`), τ = sorted[⌊p_prune·N⌋], candidates score < τ, each pruned
 * with probability p_bern (one draw from `ctx.rng` per candidate). The masks
 * go to `ctx.masks` and are applied; `ctx.masks.restore(model)` undoes the
 * pruning bit for bit, and a training loop that re-applies `ctx.masks` after
 * each step keeps pruned weights at zero.
 *
 * Options: `p_prune` in [0, 1] (default: 1 - the budget's keep fraction),
 * `p_bern` in [0, 1] (default 1). Overall pruned fraction ≈ p_prune · p_bern.
 *
 * @example
 * ```ts
 * const scores = await absScorer.start(ctx, {}).scores();
 * const result = await globalPruner.prune(ctx, scores, {}, { p_prune: 0.3, p_bern: 1 });
 * ```
 * @module
 */
import {
  findWeight,
  type LayerPruneRow,
  type Pruner,
  type PruneResult,
  readOptions,
  readScalar,
  type RunContext,
  type Scores,
  tf,
} from "@shears/core";
import { pPrune, prunerOptions } from "./options.ts";
import { concatScores, globalThreshold, selectKeep } from "./threshold.ts";

/** The model of a run, or a clear error. */
export function requireModel(ctx: RunContext, who: string): tf.LayersModel {
  if (!ctx.model) throw new Error(`${who}: the run has no model loaded`);
  return ctx.model;
}

/** Checks that a score of `shape` broadcasts onto a weight of `weightShape`. */
function checkBroadcast(name: string, shape: number[], weightShape: number[]): void {
  const ok = shape.length === weightShape.length &&
    shape.every((d, i) => d === 1 || d === weightShape[i]);
  if (!ok) {
    throw new Error(
      `scores for ${name} have shape [${shape}], which does not broadcast to the weight [${weightShape}]`,
    );
  }
}

/** Units kept by a weight's current mask (all of them when unmasked). */
async function keptBefore(ctx: RunContext, name: string, size: number): Promise<number> {
  const m = ctx.masks.get(name);
  return m ? await readScalar(() => m.sum()) : size;
}

/** One global magnitude threshold with Bernoulli selection; see the module doc. */
export const globalPruner: Pruner = {
  target: "weights",
  description: "global magnitude threshold over all scored kernels, candidates pruned w.p. p_bern",
  options: prunerOptions,
  async prune(ctx, scores: Scores, budget, options): Promise<PruneResult> {
    const model = requireModel(ctx, "magnitude/global");
    if (scores.target !== "weights") {
      throw new Error(`magnitude/global prunes weights, got scores for ${scores.target}`);
    }
    const o = readOptions(prunerOptions, options, "magnitude/global");
    const entries = [...scores.values];
    const p = pPrune(o.p_prune, budget, entries.reduce((n, [, s]) => n + s.size, 0));
    const pb = o.p_bern;
    const shapes = entries.map(([name, s]) => {
      const shape = findWeight(model, name).shape as number[];
      checkBroadcast(name, s.shape, shape);
      return shape;
    });
    const parts = await Promise.all(entries.map(([, s]) => s.data() as Promise<Float32Array>));
    const all = concatScores(parts);
    const keep = selectKeep(all, globalThreshold(all, p), pb, ctx.rng);

    const perLayer: LayerPruneRow[] = [];
    let kept = 0, total = 0, at = 0;
    for (const [i, [name, s]] of entries.entries()) {
      const shape = shapes[i];
      const size = shape.reduce((a, b) => a * b, 1);
      const unit = keep.subarray(at, at + s.size);
      at += s.size;
      const perUnit = size / s.size;
      const after = unit.reduce((n, v) => n + v, 0) * perUnit;
      const before = await keptBefore(ctx, name, size);
      const mask = tf.tidy(() => tf.broadcastTo(tf.tensor(unit, s.shape), shape));
      ctx.masks.set(model, name, mask);
      mask.dispose();
      perLayer.push({ name, before, after });
      kept += after;
      total += size;
    }
    ctx.masks.apply(model);
    return { kept, total, perLayer };
  },
};
