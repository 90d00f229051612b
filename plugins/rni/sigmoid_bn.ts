/**
 * SigmoidBatchNorm: the batch norm of Receding Neuron Importances (Suteu &
 * Guo 2022). Channel c is normalised like BatchNorm and scaled by
 * sigmoid(theta_c); there is no shift (beta). theta starts at N(0, 1), so
 * every channel's scale starts in (0, 1) and the RNI regulariser can push it
 * towards 0 (pruned) or 1 (kept).
 *
 * Training mode normalises with the batch's mean and (biased) variance and
 * updates `moving_mean` / `moving_variance` as tfjs BatchNormalization does
 * (moving = momentum·moving + (1 − momentum)·batch); inference mode uses the
 * moving statistics. Defaults are the zoo's BN: epsilon 1e-5, momentum 0.9
 * (PyTorch's 0.1). The layer is registered with tfjs serialization (saved
 * models load with `tf.loadLayersModel` once this module is imported); the
 * core channel graph knows it as a channel-wise layer (theta and the moving
 * statistics are sliced with their channel).
 *
 * Standard form (export, registered here): a BatchNormalization with gamma =
 * sigmoid(theta), beta = 0 and the same moving statistics and epsilon.
 *
 * @example
 * ```ts
 * const y = new SigmoidBatchNorm({ name: "bn1" }).apply(x) as tf.SymbolicTensor;
 * ```
 * @module
 */
import { registerExportForm, tf } from "@shears/core";

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type LayerVariable = ReturnType<tf.layers.Layer["addWeight"]>;

/** Constructor arguments of {@link SigmoidBatchNorm}. */
export interface SigmoidBatchNormArgs extends LayerArgs {
  /** Added to the variance; default 1e-5. */
  epsilon?: number;
  /** Weight of the old moving statistics in each update; default 0.9. */
  momentum?: number;
  /** Channel axis; only -1 (channels last) is supported. */
  axis?: number;
  /** Seed of theta's N(0, 1) initialiser; omitted = unseeded. */
  seed?: number;
}

/** Batch norm with scale sigmoid(theta) and no shift; see the module doc. */
export class SigmoidBatchNorm extends tf.layers.Layer {
  /** Name under which the class is serialized. */
  static className = "SigmoidBatchNorm";
  readonly epsilon: number;
  readonly momentum: number;
  readonly seed?: number;
  #theta?: LayerVariable;
  #mean?: LayerVariable;
  #variance?: LayerVariable;

  constructor(args: SigmoidBatchNormArgs = {}) {
    super(args);
    if (args.axis !== undefined && args.axis !== -1) {
      throw new Error(`SigmoidBatchNorm supports only axis -1 (channels last), got ${args.axis}`);
    }
    this.epsilon = args.epsilon ?? 1e-5;
    this.momentum = args.momentum ?? 0.9;
    this.seed = args.seed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const c = shape[shape.length - 1];
    if (c == null) throw new Error(`SigmoidBatchNorm ${this.name}: the channel axis has no size`);
    const init = tf.initializers.randomNormal({ mean: 0, stddev: 1, seed: this.seed });
    this.#theta = this.addWeight("theta", [c], "float32", init, undefined, true);
    this.#mean = this.addWeight(
      "moving_mean",
      [c],
      "float32",
      tf.initializers.zeros(),
      undefined,
      false,
    );
    this.#variance = this.addWeight(
      "moving_variance",
      [c],
      "float32",
      tf.initializers.ones(),
      undefined,
      false,
    );
    this.built = true;
  }

  /** theta: the channel scales are sigmoid(theta). */
  get theta(): LayerVariable {
    if (!this.#theta) throw new Error(`SigmoidBatchNorm ${this.name} is not built yet`);
    return this.#theta;
  }

  /** The channel scales sigmoid(theta), a new tensor the caller disposes. */
  scales(): tf.Tensor1D {
    return tf.tidy(() => tf.sigmoid(this.theta.read()) as tf.Tensor1D);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const scale = tf.sigmoid(this.theta.read());
      // Written out rather than tf.batchNorm, whose gradient needs an offset tensor.
      const norm = (mean: tf.Tensor, variance: tf.Tensor) =>
        tf.mul(tf.sub(x, mean), tf.mul(tf.rsqrt(tf.add(variance, this.epsilon)), scale));
      if (!kwargs.training) return norm(this.#mean!.read(), this.#variance!.read());
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      const y = norm(mean, variance);
      for (const [v, batch] of [[this.#mean!, mean], [this.#variance!, variance]] as const) {
        tf.tidy(() => {
          const old = v.read();
          v.write(tf.sub(old, tf.mul(tf.sub(old, batch), 1 - this.momentum)));
        });
      }
      return y;
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      axis: -1,
      epsilon: this.epsilon,
      momentum: this.momentum,
    };
    if (this.seed !== undefined) config.seed = this.seed;
    return config;
  }
}
tf.serialization.registerClass(SigmoidBatchNorm);

registerExportForm(SigmoidBatchNorm.className, (layer) => {
  const l = layer as SigmoidBatchNorm;
  const [, mean, variance] = l.getWeights();
  return {
    className: "BatchNormalization",
    config: { axis: -1, epsilon: l.epsilon, momentum: l.momentum, center: true, scale: true },
    weights: [l.scales(), tf.zerosLike(mean), mean.clone(), variance.clone()],
  };
});
