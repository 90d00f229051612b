/**
 * The Intra-Fusion pruner and its "default" baseline. Both fold BN into the
 * producers, then, one channel group at a time, keep the k = floor(C · keep
 * ratio) channels (core's keepCount, at least 1) of highest importance (any `channels` scores keyed by group
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
  type FlagDefs,
  foldBatchNorm,
  keepCount,
  type LayerPruneRow,
  type Options,
  type Pruner,
  type PruneResult,
  readOptions,
  removeChannels,
  type RunContext,
  type Scores,
} from "@shears/core";
import { fuseInto, type Merge, neuronFeatures } from "./fuse.ts";
import { transportMap } from "./transport_map.ts";

/** Putting BN's epsilon into the fold, as an option (of the pruners and of `fold_bn`). */
export const includeEpsOption = {
  type: "boolean",
  default: false,
  help: "put BN's epsilon into the fold (the reference leaves it out)",
} as const;

/** Options of both pruners. */
export const intraFusionOptions = {
  groups: { type: "strings", help: "channel group ids to prune (default: every scored group)" },
  merge: {
    type: "string",
    default: "sum",
    choices: ["sum", "average"],
    help: "how fused neurons combine: sum (the reference) or average",
  },
  marginals: {
    type: "string",
    default: "uniform",
    choices: ["uniform", "importance"],
    help: "OT marginals",
  },
  solver: { type: "string", default: "emd", choices: ["emd", "sinkhorn"], help: "OT solver" },
  reg: {
    type: "number",
    default: 0.05,
    min: 0,
    minExclusive: true,
    help: "Sinkhorn regularisation",
  },
  include_eps: includeEpsOption,
} satisfies FlagDefs;

/** Indices of the k largest scores, ascending (ties: the lower index wins). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

async function pruneGroups(
  ctx: RunContext,
  scores: Scores,
  budget: Budget,
  raw: Options,
  fuse: boolean,
): Promise<PruneResult> {
  if (!ctx.model) throw new Error("the intra_fusion pruner needs ctx.model");
  if (scores.target !== "channels") {
    throw new Error(`the intra_fusion pruners need "channels" scores, got "${scores.target}"`);
  }
  const options = readOptions(
    intraFusionOptions,
    raw,
    `intra_fusion/${fuse ? "fusion" : "default"}`,
  );
  const ids = options.groups ?? [...scores.values.keys()];
  let model = (await foldBatchNorm(ctx.model, { includeEps: options.include_eps })).model;
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
      const k = keepCount(budget, group.size);
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
            solver: options.solver as "emd" | "sinkhorn",
            reg: options.reg,
            marginals: options.marginals as "uniform" | "importance",
            importance: options.marginals === "importance" ? values : undefined,
          });
          const target = buildChannelGraph(smaller).group(id);
          fuseInto(model, group, smaller, target, map, options.merge as Merge);
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
    options: intraFusionOptions,
    prune: (ctx: RunContext, scores: Scores, budget: Budget, options: Options) =>
      pruneGroups(ctx, scores, budget, options, fuse),
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
