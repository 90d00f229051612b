/**
 * Weight masks with exact undo. A {@link MaskSet} maps weight names
 * (`conv1/kernel`) to 0/1 masks of the weight's shape; `apply` multiplies the
 * weights by their masks (call it after every optimizer step so pruned
 * weights stay zero), `restore` puts back the values the weights had before
 * their first mask, bit for bit.
 *
 * Activation masks live in the {@link MaskedReLU} layers themselves (saved
 * with the model); see {@link activationMaskLayers}.
 *
 * @example
 * ```ts
 * const masks = new MaskSet();
 * masks.set(model, "conv1/kernel", mask);
 * masks.apply(model);
 * masks.restore(model); // original weights back
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { readScalars } from "./read.ts";
import { MaskedReLU } from "./layers/masked_relu.ts";

type LayerVariable = tf.LayersModel["weights"][number];

/** The weight of `model` called `name` (its original name, `layer/param`). */
export function findWeight(model: tf.LayersModel, name: string): LayerVariable {
  const w = model.weights.find((v) => v.originalName === name || v.name === name);
  if (!w) {
    throw new Error(
      `model has no weight '${name}'; it has: ${
        model.weights.map((v) => v.originalName).slice(0, 12).join(", ")
      }${model.weights.length > 12 ? ", ..." : ""}`,
    );
  }
  return w;
}

/**
 * Sets a weight to `value` and disposes `value` (LayerVariable.write leaves the
 * tensor it is given alive, which leaks when the tensor is a temporary).
 */
export function writeWeight(w: LayerVariable, value: tf.Tensor): void {
  w.write(value);
  value.dispose();
}

/** Weight masks for one model, with the original values kept for restore. */
export class MaskSet {
  #masks = new Map<string, tf.Tensor>();
  #originals = new Map<string, tf.Tensor>();

  /** Names of masked weights. */
  keys(): string[] {
    return [...this.#masks.keys()];
  }

  /** Number of masked weights. */
  get size(): number {
    return this.#masks.size;
  }

  /** The mask of a weight, if any (owned by the set: do not dispose). */
  get(name: string): tf.Tensor | undefined {
    return this.#masks.get(name);
  }

  /**
   * Sets (or replaces) the mask of weight `name`; the set keeps a copy. The
   * first time a weight is masked its current value is kept for `restore`.
   */
  set(model: tf.LayersModel, name: string, mask: tf.Tensor): void {
    const w = findWeight(model, name);
    if (mask.shape.join() !== w.shape.join()) {
      throw new Error(`mask for ${name} has shape [${mask.shape}], weight has [${w.shape}]`);
    }
    if (!this.#originals.has(name)) this.#originals.set(name, tf.keep(w.read().clone()));
    this.#masks.get(name)?.dispose();
    // mul makes fresh float32 storage (a cast bool keeps 1-byte storage on the cpu backend).
    this.#masks.set(name, tf.keep(tf.tidy(() => tf.mul(mask.toFloat(), 1))));
  }

  /** Multiplies every masked weight by its mask. */
  apply(model: tf.LayersModel): void {
    for (const [name, m] of this.#masks) {
      const w = findWeight(model, name);
      writeWeight(w, tf.tidy(() => tf.mul(w.read(), m)));
    }
  }

  /** Puts every masked weight back to its original value and forgets all masks. */
  restore(model: tf.LayersModel): void {
    for (const [name, v] of this.#originals) findWeight(model, name).write(v);
    // write() shares v's data with the variable, so disposing v below frees only its handle.
    this.dispose();
  }

  /** Zeros in the masks over ones and zeros: `{ pruned, total }`. */
  async counts(): Promise<{ pruned: number; total: number }> {
    const masks = [...this.#masks.values()];
    const ones = await readScalars(() => masks.map((m) => m.sum()));
    let pruned = 0, total = 0;
    masks.forEach((m, i) => {
      total += m.size;
      pruned += m.size - ones[i];
    });
    return { pruned, total };
  }

  /** Forgets masks and originals, disposing their tensors. */
  dispose(): void {
    for (const t of this.#masks.values()) t.dispose();
    for (const t of this.#originals.values()) t.dispose();
    this.#masks.clear();
    this.#originals.clear();
  }
}

/** The MaskedReLU layers of a model, in model order. */
export function activationMaskLayers(model: tf.LayersModel): MaskedReLU[] {
  return model.layers.filter((l): l is MaskedReLU => l instanceof MaskedReLU);
}
