/**
 * Counting what pruners remove, the same way for every pipeline: the
 * prunable channel groups of a model (all of them, or only those made by
 * convolutions: filters) and the ReLU elements of its MaskedReLU layers,
 * per layer and in total.
 *
 * @example
 * ```ts
 * const filters = channelCount(model, "conv"); // conv filters that may be removed
 * const { kept, total, perLayer } = await reluTable(student);
 * ```
 * @module
 */
import type { tf } from "./tf.ts";
import { buildChannelGraph, type ChannelGraph, type ChannelGroup } from "./graph.ts";
import { activationMaskLayers } from "./masks.ts";
import { producerLayer } from "./producers.ts";
import type { PruneResult } from "./plugin.ts";

/**
 * Which prunable channel groups: every one, or those whose producers are all
 * convolutions (filters: Conv1D/2D/3D, SeparableConv2D, Conv2DTranspose, ...,
 * any producer counting `filters`; see {@link isFilterLayer}).
 */
export type GroupKind = "all" | "conv";

/**
 * Whether a layer class makes conv filters: a producer (core/producers.ts)
 * whose output channels are counted by `filters`.
 * @example
 * ```ts
 * isFilterLayer("SeparableConv2D"); // true
 * isFilterLayer("Dense"); // false
 * ```
 */
export function isFilterLayer(className: string): boolean {
  return producerLayer(className)?.count === "filters";
}

/**
 * The filter count of every conv layer ({@link isFilterLayer}) of `model`, by name.
 * @example
 * ```ts
 * filterCounts(model).get("conv1"); // 64
 * ```
 */
export function filterCounts(model: tf.LayersModel): Map<string, number> {
  return new Map(
    model.layers.filter((l) => isFilterLayer(l.getClassName())).map((l) => [
      l.name,
      (l.getConfig() as { filters: number }).filters,
    ]),
  );
}

/**
 * The prunable channel groups of `model` (or of its `graph`) of a kind, in
 * model order.
 *
 * @example
 * ```ts
 * prunableGroups(model, "conv").map((g) => g.id); // ["conv1", "conv2", ...]
 * ```
 */
export function prunableGroups(
  model: tf.LayersModel,
  kind: GroupKind = "all",
  graph: ChannelGraph = buildChannelGraph(model),
): ChannelGroup[] {
  return graph.groups.filter((g) =>
    g.prunable && g.producers.length > 0 &&
    (kind === "all" || g.producers.every((p) => isFilterLayer(p.className)))
  );
}

/** Channels over {@link prunableGroups} of a kind (for "conv": the model's prunable filters). */
export function channelCount(model: tf.LayersModel, kind: GroupKind = "all"): number {
  return prunableGroups(model, kind).reduce((s, g) => s + g.size, 0);
}

/** Elements of a MaskedReLU layer's mask. */
function maskElements(layer: { mask: { shape: (number | null)[] } }): number {
  return layer.mask.shape.reduce((a: number, b) => a * (b ?? 1), 1);
}

/** All ReLU elements of the MaskedReLU layers of `model` (from their shapes, no read). */
export function reluElements(model: tf.LayersModel): number {
  return activationMaskLayers(model).reduce((a, l) => a + maskElements(l), 0);
}

/**
 * Active ReLUs (`kept`) of all elements (`total`) of the MaskedReLU layers
 * of `model`, with one row per layer: `before` = elements, `after` = active.
 *
 * @example
 * ```ts
 * const { kept, total } = await reluTable(model); // e.g. 4800 of 48000
 * ```
 */
export async function reluTable(model: tf.LayersModel): Promise<PruneResult> {
  const perLayer = await Promise.all(
    activationMaskLayers(model).map(async (l) => ({
      name: l.name,
      before: maskElements(l),
      after: await l.activeCount(),
    })),
  );
  return {
    kept: perLayer.reduce((a, r) => a + r.after, 0),
    total: perLayer.reduce((a, r) => a + r.before, 0),
    perLayer,
  };
}
