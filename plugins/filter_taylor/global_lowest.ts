/**
 * The `global_lowest` pruner: remove the N lowest-ranked filters across all
 * layers at once (the seed's `lowest_ranking_filters` + `get_prunning_plan`),
 * physically, through core surgery; `ctx.model` becomes the smaller model.
 *
 * Unlike the seed it never empties a layer: a group always keeps at least one
 * filter. With `round_to` R > 1 every pruned layer keeps a multiple of R
 * filters (at least R): each group offers its lowest filters in chunks — first
 * `size mod R` of them (or R when size is already a multiple), then R at a
 * time — and chunks are taken in order of their mean rank until at least N
 * filters go (so a step may remove up to R - 1 more than N). With R = 1 the
 * chunks are single filters and this is exactly the N globally lowest.
 * Ties go to the earlier layer, then the lower index.
 *
 * @example
 * ```ts
 * const plan = planRemovals(new Map([["conv1", [0.9, 0.1, 0.5]], ["conv2", [0.2, 0.3]]]), 2);
 * // Map { "conv1" => [1], "conv2" => [0] }
 * await globalLowest.prune(ctx, scores, { remove: 64 }, { round_to: 8 });
 * ```
 * @module
 */
import {
  type Budget,
  buildChannelGraph,
  type FlagDefs,
  type Options,
  type Pruner,
  type PruneResult,
  readOptions,
  removeChannels,
  removeCount,
  type RunContext,
  type Scores,
} from "@shears/core";

type Chunk = { group: number; order: number; mean: number; members: number[] };

/**
 * Which filters to remove: group id -> channel indices (ascending), given
 * each group's ranks (lower = less important), the number to remove and the
 * channel-count multiple `roundTo`. Groups appear in the result in the
 * order of `ranks`, only when something is removed from them.
 */
export function planRemovals(
  ranks: Map<string, ArrayLike<number>>,
  remove: number,
  roundTo = 1,
): Map<string, number[]> {
  if (!Number.isInteger(roundTo) || roundTo < 1) {
    throw new Error(`round_to must be an integer >= 1, got ${roundTo}`);
  }
  const ids = [...ranks.keys()];
  const chunks: Chunk[] = [];
  ids.forEach((id, group) => {
    const r = Array.from(ranks.get(id)!);
    const bad = r.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`rank ${bad} of group '${id}' is not a finite number: ${r[bad]}`);
    const sorted = r.map((_, i) => i).sort((a, b) => r[a] - r[b] || a - b);
    let start = 0, order = 0;
    let len = r.length % roundTo || roundTo;
    while (start + len < r.length) { // a chunk must leave at least one filter (R with round_to)
      const members = sorted.slice(start, start + len);
      const mean = members.reduce((s, i) => s + r[i], 0) / members.length;
      chunks.push({ group, order: order++, mean, members });
      start += len;
      len = roundTo;
    }
  });
  chunks.sort((a, b) => a.mean - b.mean || a.group - b.group || a.order - b.order);
  const picked = ids.map(() => [] as number[]);
  let removed = 0;
  for (const c of chunks) {
    if (removed >= remove) break;
    picked[c.group].push(...c.members);
    removed += c.members.length;
  }
  const plan = new Map<string, number[]>();
  ids.forEach((id, g) => {
    if (picked[g].length) plan.set(id, picked[g].sort((a, b) => a - b));
  });
  return plan;
}

const lowestOptions = {
  round_to: {
    type: "int",
    default: 1,
    min: 1,
    help: "keep every pruned layer's filter count a multiple of this",
  },
} satisfies FlagDefs;

/** The `filter_taylor/global_lowest` pruner (see the module doc). */
export const globalLowest: Pruner = {
  target: "channels",
  description: "remove the N lowest-ranked channels across layers (never emptying a layer; " +
    "option round_to keeps channel counts multiples of R); real removal by core surgery",
  options: lowestOptions,
  async prune(
    ctx: RunContext,
    scores: Scores,
    budget: Budget,
    options: Options,
  ): Promise<PruneResult> {
    const model = ctx.model;
    if (!model) throw new Error("global_lowest: the run has no model loaded");
    const graph = buildChannelGraph(model);
    const groups = graph.groups.filter((g) => g.prunable && scores.values.has(g.id));
    const ranks = new Map<string, Float32Array>();
    for (const g of groups) {
      const t = scores.values.get(g.id)!;
      if (t.size !== g.size) {
        throw new Error(
          `scores for group '${g.id}' have ${t.size} values but it has ${g.size} channels ` +
            `(score the current model)`,
        );
      }
      ranks.set(g.id, await t.data() as Float32Array);
    }
    const total = groups.reduce((s, g) => s + g.size, 0);
    const n = removeCount(budget, total, { rounding: "ceil" }); // a ratio keeps ceil(r * total)
    const { round_to } = readOptions(lowestOptions, options, "filter_taylor/global_lowest");
    const plan = planRemovals(ranks, n, round_to);
    const perLayer = groups.map((g) => ({
      name: g.id,
      before: g.size,
      after: g.size - (plan.get(g.id)?.length ?? 0),
    }));
    const kept = perLayer.reduce((s, r) => s + r.after, 0);
    if (plan.size) {
      ctx.model = await removeChannels(model, plan, graph);
      if (ctx.teacher !== model) model.dispose();
    }
    return { kept, total, perLayer };
  },
};
