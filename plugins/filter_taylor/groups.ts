/**
 * Which channel groups are conv filters (what this method ranks and removes),
 * and where each group's "activation after its ReLU" can be seen.
 *
 * A filter group is a prunable core channel group (see `buildChannelGraph`)
 * made only by Conv2D layers: a plain conv's filters, or the convs a residual
 * Add couples (their channels are removed together). Dense units are not
 * filters and are left alone, as in the seed.
 *
 * @example
 * ```ts
 * const graph = buildChannelGraph(model);
 * for (const g of filterGroups(graph)) console.log(g.id, g.size, reluPoints(model, g));
 * ```
 * @module
 */
import type { ChannelGraph, ChannelGroup, ChannelMap, tf } from "@shears/core";

/** The prunable groups whose producers are all Conv2D layers, in model order. */
export function filterGroups(graph: ChannelGraph): ChannelGroup[] {
  return graph.groups.filter((g) =>
    g.prunable && g.producers.length > 0 && g.producers.every((p) => p.className === "Conv2D")
  );
}

/** Total filters over {@link filterGroups} (one per group channel). */
export function countFilters(graph: ChannelGraph): number {
  return filterGroups(graph).reduce((s, g) => s + g.size, 0);
}

/** True when a layer's output is a ReLU's output (a ReLU layer, or a fused `activation: "relu"`). */
function isRelu(layer: tf.layers.Layer): boolean {
  const cls = layer.getClassName();
  if (cls === "ReLU") return true;
  const act = (layer.getConfig() as { activation?: unknown }).activation;
  return act === "relu";
}

/**
 * The tensors of a group where the Taylor rank looks: every ReLU output that
 * carries the group's channels (after BN, as a = relu(bn(conv(x))) in a
 * VGG-BN block). A group coupled through residual Adds has several (the
 * ReLU after its stem conv and the one after each Add); its rank is the sum
 * over them. A group with no ReLU on the way falls back to its producers'
 * outputs (the conv output itself, where the seed hooks).
 */
export function reluPoints(model: tf.LayersModel, group: ChannelGroup): ChannelMap[] {
  const flat = group.tensors.filter((m) => m.spatial === 1);
  const relus = flat.filter((m) => isRelu(model.getLayer(m.layer)));
  if (relus.length) return relus;
  const producers = new Set(group.producers.map((p) => p.layer));
  return flat.filter((m) => producers.has(m.layer));
}
