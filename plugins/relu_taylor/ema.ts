/**
 * Per-layer tensors kept across batches as exponential moving averages,
 * v <- m v + (1 - m) x with v0 = 0 and no bias correction. The tensors are
 * tf.keep'd; each update disposes the previous one, so the count of live
 * tensors stays flat however many batches run.
 *
 * @example
 * ```ts
 * const ema = new LayerEma(0.95);
 * ema.update(0, batchValue); // v = 0.05 * batchValue
 * ema.dispose();
 * ```
 * @module
 */
import { type MaskedReLU, type Scores, tf } from "@shears/core";

/** Moving averages of one tensor per layer index. */
export class LayerEma {
  #values = new Map<number, tf.Tensor>();

  /** @param momentum m in v <- m v + (1 - m) x */
  constructor(readonly momentum: number) {}

  /** Folds `x` into layer `layer`'s average (`x` is neither kept nor disposed). */
  update(layer: number, x: tf.Tensor): void {
    const old = this.#values.get(layer);
    const m = this.momentum;
    const next = tf.tidy(() => (old ? old.mul(m).add(x.mul(1 - m)) : x.mul(1 - m)));
    old?.dispose();
    this.#values.set(layer, tf.keep(next));
  }

  /** The current average of `layer` (owned here: do not dispose), if it was ever updated. */
  get(layer: number): tf.Tensor | undefined {
    return this.#values.get(layer);
  }

  /**
   * Activation scores for `layers` (index = position in the list): a copy of
   * each average, zeros of the mask's shape for a layer never updated. The
   * caller owns the returned tensors.
   */
  scores(layers: MaskedReLU[]): Scores {
    const values = new Map<string, tf.Tensor>();
    layers.forEach((layer, i) => {
      const v = this.#values.get(i);
      values.set(layer.name, v ? v.clone() : tf.zeros(layer.mask.shape as number[]));
    });
    return { target: "activations", values };
  }

  /** Disposes every average. */
  dispose(): void {
    for (const t of this.#values.values()) t.dispose();
    this.#values.clear();
  }
}
