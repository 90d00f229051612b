/**
 * ReLU counts of a model with MaskedReLU layers: per layer, elements and
 * ReLUs still active (mask sum), and the totals, as a pruning table.
 *
 * @example
 * ```ts
 * const { kept, total, perLayer } = reluCounts(model);
 * ```
 * @module
 */
import { activationMaskLayers, type MaskedReLU, type PruneResult, type tf } from "@shears/core";

/** Number of mask elements of a MaskedReLU layer. */
export function maskSize(layer: MaskedReLU): number {
  return layer.mask.shape.reduce((a: number, b) => a * (b ?? 1), 1);
}

/** Active ReLUs (`kept`) of all elements (`total`), and one row per MaskedReLU layer. */
export function reluCounts(model: tf.LayersModel): PruneResult {
  const perLayer = activationMaskLayers(model).map((l) => ({
    name: l.name,
    before: maskSize(l),
    after: l.activeCount(),
  }));
  return {
    kept: perLayer.reduce((a, r) => a + r.after, 0),
    total: perLayer.reduce((a, r) => a + r.before, 0),
    perLayer,
  };
}
