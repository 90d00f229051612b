/**
 * filter_taylor — Molchanov et al. 2016 ("Pruning Convolutional Neural
 * Networks for Resource Efficient Inference") as the pytorch-pruning seed
 * does it: rank conv filters by the first-order Taylor criterion, remove the
 * globally lowest ones for real, fine-tune, repeat. Parts:
 *
 * - scorer `taylor`: Σ_batches mean(a·g) at each conv's ReLU over one epoch,
 *   |r| / ||r||_2 per layer ({@link taylorScorer}); option `per_example_abs`
 * - scorer `l1`: filter L1 norm, the Li et al. baseline ({@link l1Scorer})
 * - pruner `global_lowest`: the N lowest across layers, never emptying a layer,
 *   option `round_to` ({@link globalLowest}, {@link planRemovals})
 *
 * The seed's schedule (N = 512 of VGG-16's 4224 filters per iteration,
 * core's `iterationsFor(total, N, 2 / 3)` iterations) is the pipeline's.
 *
 * @example
 * ```ts
 * import filterTaylor from "@shears/filter_taylor";
 * const reg = new Registry([filterTaylor]);
 * // score({ scorer: "filter_taylor/taylor" }), then
 * // mask({ pruner: "filter_taylor/global_lowest", scores: "filter_taylor/taylor", budget: { remove: 512 } })
 * ```
 * @module
 */
import type { Plugin } from "@shears/core";
import { taylorScorer } from "./taylor.ts";
import { l1Scorer } from "./l1.ts";
import { globalLowest } from "./global_lowest.ts";

export { batchTaylor, taylorScorer, TaylorSession } from "./taylor.ts";
export { filterL1, l1Scorer } from "./l1.ts";
export { globalLowest, planRemovals } from "./global_lowest.ts";
export { normalizeOption, normalizeRanks } from "./normalize.ts";
export { groupsToScore, reluPoints } from "./groups.ts";

/** The filter_taylor plugin. */
const filterTaylor: Plugin = {
  name: "filter_taylor",
  description:
    "Taylor filter ranking and iterative structural filter removal (Molchanov et al. 2016)",
  scorers: { taylor: taylorScorer, l1: l1Scorer },
  pruners: { global_lowest: globalLowest },
};

export default filterTaylor;
