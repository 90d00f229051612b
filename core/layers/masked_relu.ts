/**
 * MaskedReLU: a ReLU whose elements can each be switched to the identity.
 * y = relu(x * m) + x * (1 - m), with one binary mask value per activation
 * element (H, W, C), shared across the batch and not trained. m = 1 is a
 * ReLU; m = 0 is the identity (a removed ReLU costs nothing in private
 * inference). The mask is a non-trainable weight, so it is saved and loaded
 * with the model.
 *
 * Standard form (export): an all-zero mask is the identity (removed), an
 * all-one mask is a ReLU, and any other mask is a PReLU with alpha = 1 - m:
 * for m >= 0, relu(x m) = m relu(x), so y = x where x >= 0 and (1 - m) x
 * where x < 0, which is PReLU's definition; with m in {0, 1} it is exact to
 * the bit.
 *
 * @example
 * ```ts
 * const y = new MaskedReLU({ name: "block1_relu1" }).apply(x) as tf.SymbolicTensor;
 * ```
 * @module
 */
import { tf } from "../tf.ts";
import { readScalar } from "../read.ts";
import { registerExportForm } from "../export/forms.ts";

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];
type LayerVariable = ReturnType<tf.layers.Layer["addWeight"]>;

/** A ReLU with a per-element on/off mask; see the module doc. */
export class MaskedReLU extends tf.layers.Layer {
  /** Name under which the class is serialized. */
  static className = "MaskedReLU";
  #mask?: LayerVariable;

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    this.#mask = this.addWeight(
      "mask",
      shape.slice(1) as number[],
      "float32",
      tf.initializers.ones(),
      undefined,
      false,
    );
    this.built = true;
  }

  /** The mask variable (H, W, C); 1 = ReLU, 0 = identity. */
  get mask(): LayerVariable {
    if (!this.#mask) throw new Error(`MaskedReLU ${this.name} is not built yet`);
    return this.#mask;
  }

  /** Replaces the mask values (a tensor of the mask's shape; it is not kept). */
  setMask(m: tf.Tensor): void {
    // mul makes fresh float32 storage: a cast bool keeps 1-byte storage on cpu and saves broken weights.
    const v = tf.tidy(() => tf.mul(m.reshape(this.mask.shape as number[]).toFloat(), 1));
    this.mask.write(v);
    v.dispose();
  }

  /** Number of mask elements still acting as ReLU (read asynchronously, as GPU backends need). */
  activeCount(): Promise<number> {
    return readScalar(() => this.mask.read().sum());
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const m = this.mask.read();
      return tf.add(tf.relu(tf.mul(x, m)), tf.mul(x, tf.sub(1, m)));
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(MaskedReLU);

registerExportForm(MaskedReLU.className, async (layer) => {
  const mask = (layer as MaskedReLU).mask.read();
  const on = await readScalar(() => mask.sum());
  if (on === 0) return null;
  if (on === mask.size) return { className: "ReLU", config: {} };
  return { className: "PReLU", config: {}, weights: [tf.tidy(() => tf.sub(1, mask))] };
});
