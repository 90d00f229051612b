/**
 * The Intra-Fusion pruner and its "default" baseline. Both fold BN into the
 * producers, then, one channel group at a time, keep the k = floor(C · keep
 * ratio) channels of highest importance (any `channels` scores keyed by group
 * id: this plugin's l1 / taylor, or another plugin's scorer) and physically
 * remove the rest. "default" just drops them; "fusion" first solves the
 * optimal transport from all C neurons to the k kept ones and merges every
 * neuron into the kept ones (see ./transport_map.ts, ./fuse.ts). The new,
 * smaller model replaces `ctx.model`; the old one is left usable.
 *
 * @example
 * ```ts
 * const small = await fusionPruner.prune(ctx, scores, { keepRatio: 0.5 }, { groups: ["features_conv7"] });
 * ```
 * @module
 */
import {
  type Budget,
  buildChannelGraph,
  foldBatchNorm,
  type LayerPruneRow,
  type Options,
  type Pruner,
  type PruneResult,
  removeChannels,
  type RunContext,
  type Scores,
} from "@shears/core";
import { fuseInto, type Merge, neuronFeatures } from "./fuse.ts";
import { transportMap, type TransportOptions } from "./transport_map.ts";

/** Options of both pruners (flag-style names). */
export interface IntraFusionOptions extends TransportOptions {
  /** Group ids to prune; default every group that has scores. */
  groups?: string[];
  /** How merged neurons combine; default "sum" (the reference). */
  merge?: Merge;
  /** Put BN's epsilon into the fold; default false (the reference). */
  includeEps?: boolean;
}

/** Channels kept of `size` under `budget`: floor(size · keepRatio), or `keep`, at least 1. */
export function keepCount(size: number, budget: Budget): number {
  let k: number;
  if (budget.keep !== undefined) k = budget.keep;
  else if (budget.remove !== undefined) k = size - budget.remove;
  else if (budget.keepRatio !== undefined) {
    if (!(budget.keepRatio > 0 && budget.keepRatio <= 1)) {
      throw new Error(`keep ratio must be in (0, 1], got ${budget.keepRatio}`);
    }
    // floor(C (1 - s)) of the reference, robust to 0.7 * 10 = 6.999...
    k = Math.floor(size * budget.keepRatio + 1e-9);
  } else throw new Error("the intra_fusion pruners need a budget: keepRatio, keep or remove");
  return Math.min(size, Math.max(1, k));
}

/** Indices of the k largest scores, ascending (ties: the lower index wins). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

async function pruneGroups(
  ctx: RunContext,
  scores: Scores,
  budget: Budget,
  options: IntraFusionOptions,
  fuse: boolean,
): Promise<PruneResult> {
  if (!ctx.model) throw new Error("the intra_fusion pruner needs ctx.model");
  if (scores.target !== "channels") {
    throw new Error(`the intra_fusion pruners need "channels" scores, got "${scores.target}"`);
  }
  const ids = options.groups ?? [...scores.values.keys()];
  let model = (await foldBatchNorm(ctx.model, { includeEps: options.includeEps })).model;
  const perLayer: LayerPruneRow[] = [];
  let kept = 0, total = 0;
  try {
    for (const id of ids) {
      const graph = buildChannelGraph(model);
      const group = graph.group(id);
      const s = scores.values.get(id);
      if (!s) throw new Error(`no scores for channel group '${id}'`);
      const values = await s.data();
      if (values.length !== group.size) {
        throw new Error(
          `scores for group '${id}' have ${values.length} entries; it has ${group.size}`,
        );
      }
      const k = keepCount(group.size, budget);
      const keep = topK(values, k);
      const keepSet = new Set(keep);
      const drop = Array.from({ length: group.size }, (_, j) => j).filter((j) => !keepSet.has(j));
      perLayer.push({ name: id, before: group.size, after: k });
      kept += k;
      total += group.size;
      if (drop.length === 0) continue;
      const smaller = await removeChannels(model, new Map([[id, drop]]), graph);
      if (fuse) {
        try {
          const map = transportMap(await neuronFeatures(model, group), keep, {
            ...options,
            importance: options.marginals === "importance" ? values : undefined,
          });
          fuseInto(model, group, smaller, buildChannelGraph(smaller).group(id), map, options.merge);
        } catch (e) {
          smaller.dispose();
          throw e;
        }
      }
      model.dispose();
      model = smaller;
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  ctx.model = model;
  return { kept, total, perLayer };
}

function pruner(fuse: boolean, description: string): Pruner {
  return {
    target: "channels",
    description,
    prune: (ctx: RunContext, scores: Scores, budget: Budget, options: Options) =>
      pruneGroups(ctx, scores, budget, options as IntraFusionOptions, fuse),
  };
}

/** Intra-Fusion: keep the most important channels and fuse every channel into them by OT. */
export const fusionPruner: Pruner = pruner(
  true,
  "keep the top-k channels per group and fuse all channels into them by optimal transport",
);

/** The baseline: same importance, the unkept channels dropped. */
export const defaultPruner: Pruner = pruner(
  false,
  "keep the top-k channels per group and drop the rest (Intra-Fusion's 'default' baseline)",
);
