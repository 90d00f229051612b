/**
 * Which channel groups are conv filters (what this method ranks and removes),
 * and where each group's "activation after its ReLU" can be seen.
 *
 * A filter group is a prunable core channel group made only by convolutions
 * (Conv1D/2D/3D, SeparableConv2D, Conv2DTranspose: core's
 * `prunableGroups(model, "conv")`): a plain conv's filters,
 * or the convs a residual Add couples (their channels are removed
 * together). Dense units are not filters; the scorers rank them only when
 * the engine asks for their groups.
 *
 * @example
 * ```ts
 * for (const g of prunableGroups(model, "conv")) console.log(g.id, g.size, reluPoints(model, g));
 * ```
 * @module
 */
import {
  buildChannelGraph,
  type ChannelGroup,
  type ChannelMap,
  prunableGroups,
  type tf,
} from "@shears/core";

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

/**
 * The groups a scorer ranks: those `ids` name (any prunable group of the
 * model, Dense units included), or by default the filter groups.
 */
export function groupsToScore(model: tf.LayersModel, ids?: string[]): ChannelGroup[] {
  const graph = buildChannelGraph(model);
  if (!ids) return prunableGroups(model, "conv", graph);
  return ids.map((id) => graph.group(id));
}
