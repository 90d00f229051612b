/**
 * GradientPrunedConv2D: a Conv2D whose backward pass sees a pruned kernel
 * while everything else sees the full one (DWP "gradient-only" pruning).
 *
 * - forward: y = act(conv2d(x, W) + b), exactly as Conv2D;
 * - dL/dW and dL/db: the ordinary gradients, from the full W;
 * - dL/dx: computed with W·m, where m = (|W| >= threshold) OR keep, and keep is
 *   a fresh Bernoulli(1 - pBern) draw on every backward pass. So each weight
 *   below the threshold is dropped from the input gradient with probability
 *   pBern, against the current (still training) weights.
 *
 * The threshold is fixed when the layer is made (computed once, globally, by
 * the `gradient` pruner). The layer is serializable: a saved model loads back
 * with `tf.loadLayersModel` once this module is imported. Its standard form
 * (export, registered here) is the Conv2D it is in the forward pass.
 *
 * @example
 * ```ts
 * const conv = new GradientPrunedConv2D({
 *   filters: 8, kernelSize: 3, padding: "same", threshold: 0.05, pBern: 1, seed: 1,
 * });
 * ```
 * @module
 */
import { registerExportForm, tf } from "@shears/core";

type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];
type Conv2DLayer = ReturnType<typeof tf.layers.conv2d>;

/** The tfjs-layers Conv2D class (not exported by name; taken from its factory). */
const Conv2D = tf.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (
  args: Conv2DArgs,
) => Conv2DLayer;

/**
 * A threshold as a config value: a number, or "inf" for +∞ (JSON has no
 * Infinity, and tfjs lower-cases string config values on load).
 */
export function serializeThreshold(t: number): number | string {
  return Number.isFinite(t) ? t : t > 0 ? "inf" : "-inf";
}

/** Reads a threshold written by {@link serializeThreshold} (or a plain number / numeric string). */
export function parseThreshold(v: unknown): number {
  if (typeof v === "string" && /^[+-]?inf(inity)?$/i.test(v.trim())) {
    return v.trim().startsWith("-") ? -Infinity : Infinity;
  }
  return typeof v === "number" || typeof v === "string" ? Number(v) : NaN;
}

/** The plain Conv2D config of a GradientPrunedConv2D config: without the pruning parameters. */
export function conv2dConfig(config: Record<string, unknown>): Record<string, unknown> {
  const { threshold: _t, pBern: _p, seed: _s, ...conv } = config;
  return conv;
}

/** Arguments of {@link GradientPrunedConv2D}: Conv2D's, plus the pruning parameters. */
export type GradientPrunedConv2DArgs = Conv2DArgs & {
  /** Weights with |w| >= threshold are never pruned; Infinity is serialized as "inf". */
  threshold: number | string;
  /** Probability that a weight below the threshold is dropped from dL/dx, in [0, 1]. */
  pBern: number;
  /** Seed of the Bernoulli draws (draw i of this layer uses seed `${seed}:${i}`). */
  seed?: number;
};

/** A Conv2D with gradient-only magnitude pruning; see the module doc. */
export class GradientPrunedConv2D extends Conv2D {
  /** Name under which the class is serialized. */
  static className = "GradientPrunedConv2D";
  /** Weights with |w| >= threshold always reach dL/dx. */
  threshold: number;
  /** Probability that a weight below the threshold is dropped from dL/dx. */
  pBern: number;
  /** Seed of the per-backward Bernoulli draws. */
  readonly seed: number;
  #draws = 0;

  constructor(args: GradientPrunedConv2DArgs) {
    super(args);
    this.threshold = parseThreshold(args.threshold);
    this.pBern = args.pBern;
    this.seed = args.seed ?? 0;
    if (Number.isNaN(this.threshold)) {
      throw new Error(`${this.name}: threshold must be a number, got ${args.threshold}`);
    }
    if (!(this.pBern >= 0 && this.pBern <= 1)) {
      throw new Error(`${this.name}: pBern must be in [0, 1], got ${args.pBern}`);
    }
    if (this.dataFormat !== "channelsLast" || this.dilationRate.some((d) => d !== 1)) {
      throw new Error(
        `${this.name}: gradient-only pruning needs channelsLast data and dilation 1, ` +
          `got ${this.dataFormat} and dilation ${this.dilationRate}`,
      );
    }
  }

  /** Number of backward passes (mask draws) so far. */
  get draws(): number {
    return this.#draws;
  }

  /** The kernel mask used for dL/dx on the next backward pass would be drawn like this. */
  drawMask(w: tf.Tensor): tf.Tensor {
    const seed = `${this.seed}:${this.#draws++}`;
    return tf.tidy(() => {
      const big = tf.greaterEqual(tf.abs(w), this.threshold);
      const spared = tf.greaterEqual(tf.randomUniform(w.shape, 0, 1, "float32", seed), this.pBern);
      return tf.cast(tf.logicalOr(big, spared), "float32");
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const w = this.kernel.read() as tf.Tensor4D;
      const y = this.bias ? this.#conv(x, w, this.bias.read()) : this.#conv(x, w);
      return this.activation.apply(y);
    });
  }

  /**
   * conv2d(x, w) + b with dL/dx taken through a freshly masked w. The forward
   * is the same fused op Conv2D runs, so outputs match it bit for bit on
   * every backend (activation applied after, as for Conv2D's linear case).
   */
  #conv(x: tf.Tensor4D, w: tf.Tensor4D, b?: tf.Tensor): tf.Tensor4D {
    const strides = this.strides as [number, number];
    const pad = this.padding === "same" ? "same" : "valid";
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args.pop() as tf.GradSaveFunc;
      const [xi, wi, bi] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor?];
      save([xi, wi]);
      return {
        value: tf.fused.conv2d({ x: xi, filter: wi, strides, pad, bias: bi }),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
          const dy4 = dy as tf.Tensor4D;
          const wPruned = tf.mul(ws, this.drawMask(ws)) as tf.Tensor4D;
          const dx = tf.conv2dTranspose(dy4, wPruned, xs.shape, strides, pad);
          const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x: xs, dy: dy4 }, {
            strides,
            pad,
            dataFormat: "NHWC",
            dimRoundingMode: undefined,
            filterShape: ws.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          return bi ? [dx, dw, tf.sum(dy4, [0, 1, 2])] : [dx, dw];
        },
      };
    });
    return (b ? f(x, w, b) : f(x, w)) as tf.Tensor4D;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      threshold: serializeThreshold(this.threshold),
      pBern: this.pBern,
      seed: this.seed,
    };
  }
}
tf.serialization.registerClass(
  // Conv2D's static fromConfig (inherited from Layer) is there at run time; the factory type hides it.
  GradientPrunedConv2D as unknown as tf.serialization.SerializableConstructor<GradientPrunedConv2D>,
);

registerExportForm(GradientPrunedConv2D.className, (layer) => ({
  className: "Conv2D",
  config: conv2dConfig(layer.getConfig()),
}));
