/**
 * The plugins shipped with Shears: the five methods' parts and custom layers
 * (SigmoidBatchNorm, GradientPrunedConv2D, ...), for the pipelines that take
 * any of them (prune.ts, export.ts) and the method pipelines' `partsFrom`.
 * @module
 */
import type { Plugin } from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import magnitude from "@shears/magnitude";
import filterTaylor from "@shears/filter_taylor";
import rni from "@shears/rni";
import intraFusion from "@shears/intra_fusion";

/**
 * Every shipped plugin, in the order the registry lists their parts.
 *
 * @example
 * ```ts
 * const spec: PipelineSpec<typeof flags> = { ...mine, plugins: shippedPlugins };
 * ```
 */
export const shippedPlugins: Plugin[] = [reluTaylor, magnitude, filterTaylor, rni, intraFusion];
