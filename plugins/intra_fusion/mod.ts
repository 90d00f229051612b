/**
 * Intra-Fusion (Theus et al., ICLR 2024): prune a channel group by fusing
 * its neurons into the kept ones with an optimal-transport map instead of
 * dropping them. Parts: scorers `l1` and `taylor` (channels), pruners
 * `fusion` and `default` (the drop-only baseline), transform `fold_bn`.
 *
 * @example
 * ```ts
 * import intraFusion from "@shears/intra_fusion";
 * const reg = new Registry([intraFusion]);
 * await reg.pruner("intra_fusion/fusion").prune(ctx, scores, { keepRatio: 0.5 }, { groups: [id] });
 * ```
 * @module
 */
import type { Plugin } from "@shears/core";
import { foldBatchNorm, readOptions } from "@shears/core";
import { l1Scorer, taylorScorer } from "./importance.ts";
import { defaultPruner, fusionPruner, includeEpsOption } from "./pruner.ts";

const foldOptions = { include_eps: includeEpsOption };

export * from "./emd.ts";
export * from "./sinkhorn.ts";
export * from "./transport_map.ts";
/** BN folding moved to core (deployment uses it too); re-exported for this plugin's users. */
export { foldBatchNorm, type FoldedPair, type FoldOptions, isIdentityBn } from "@shears/core";
export * from "./fuse.ts";
export * from "./importance.ts";
export * from "./pruner.ts";

/** The intra_fusion plugin. */
const plugin: Plugin = {
  name: "intra_fusion",
  description: "Intra-Fusion: fuse pruned neurons into kept ones by optimal transport",
  scorers: { l1: l1Scorer, taylor: taylorScorer },
  pruners: { fusion: fusionPruner, default: defaultPruner },
  transforms: {
    fold_bn: {
      description: "fold each BatchNorm into the Conv2D / Dense before it",
      options: foldOptions,
      apply: async (model, options) => {
        const { include_eps } = readOptions(foldOptions, options, "intra_fusion/fold_bn");
        return (await foldBatchNorm(model, { includeEps: include_eps })).model;
      },
    },
  },
};
export default plugin;
