/**
 * magnitude — DWP weight pruning (the Network-Pruning seed): global magnitude
 * pruning of every Conv2D kernel with `p_prune` / `p_bern`, by single weights
 * or whole kernels, exactly undoable; and gradient-only pruning, where only
 * dL/dinput sees the pruned weights.
 *
 * Parts: scorers `abs`, `kernel_l1`; pruners `global`, `gradient`; transforms
 * `gradient_prune`, `plain_conv`.
 *
 * @example
 * ```ts
 * import magnitude from "@shears/magnitude";
 * const reg = new Registry([magnitude]);
 * const scores = await reg.scorer("magnitude/abs").start(ctx, {}).scores();
 * await reg.pruner("magnitude/global").prune(ctx, scores, {}, { p_prune: 0.3, p_bern: 1 });
 * ctx.masks.restore(ctx.model!); // back to the original weights, bit for bit
 * ```
 * @module
 */
import type { Plugin } from "@shears/core";
import { absScorer, kernelL1Scorer } from "./scorers.ts";
import { globalPruner } from "./global_pruner.ts";
import { gradientPruner, gradientPruneTransform, plainConvTransform } from "./gradient_pruner.ts";

export { absScorer, kernelL1Scorer } from "./scorers.ts";
export { globalPruner } from "./global_pruner.ts";
export {
  gradientPrunedLayers,
  gradientPrunedModel,
  type GradientPruneParams,
  gradientPruner,
  gradientPruneTransform,
  plainConvModel,
  plainConvTransform,
} from "./gradient_pruner.ts";
export { GradientPrunedConv2D, type GradientPrunedConv2DArgs } from "./gradient_pruned_conv2d.ts";
export { concatScores, globalThreshold, selectKeep } from "./threshold.ts";
export { type PrunableKernel, prunableKernels } from "./prunable.ts";

/** The magnitude plugin. */
const magnitude: Plugin = {
  name: "magnitude",
  description: "DWP: global magnitude pruning (p_prune, p_bern) and gradient-only pruning",
  scorers: { abs: absScorer, kernel_l1: kernelL1Scorer },
  pruners: { global: globalPruner, gradient: gradientPruner },
  transforms: { gradient_prune: gradientPruneTransform, plain_conv: plainConvTransform },
};
export default magnitude;
