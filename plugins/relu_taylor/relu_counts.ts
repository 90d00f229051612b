/**
 * ReLU counts of a model with MaskedReLU layers: per layer, elements and
 * ReLUs still active (mask sum), and the totals, as a pruning table.
 *
 * @example
 * ```ts
 * const { kept, total, perLayer } = await reluCounts(model);
 * const all = reluTotal(model); // no read: from the mask shapes
 * ```
 * @module
 */
import { activationMaskLayers, type MaskedReLU, type PruneResult, type tf } from "@shears/core";

/** Number of mask elements of a MaskedReLU layer. */
export function maskSize(layer: MaskedReLU): number {
  return layer.mask.shape.reduce((a: number, b) => a * (b ?? 1), 1);
}

/** All ReLU elements of the MaskedReLU layers of `model` (from their shapes). */
export function reluTotal(model: tf.LayersModel): number {
  return activationMaskLayers(model).reduce((a, l) => a + maskSize(l), 0);
}

/** Active ReLUs (`kept`) of all elements (`total`), and one row per MaskedReLU layer. */
export async function reluCounts(model: tf.LayersModel): Promise<PruneResult> {
  const perLayer = await Promise.all(
    activationMaskLayers(model).map(async (l) => ({
      name: l.name,
      before: maskSize(l),
      after: await l.activeCount(),
    })),
  );
  return {
    kept: perLayer.reduce((a, r) => a + r.after, 0),
    total: perLayer.reduce((a, r) => a + r.before, 0),
    perLayer,
  };
}
