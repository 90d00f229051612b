/**
 * LayerKit: the layer constructors every builder shares, with one set of
 * conventions applied once — linear convs/denses followed by separate
 * activation layers, BatchNorm settings, conv padding and initialisers
 * (PyTorch's for the CIFAR zoo, {@link KERAS}' for the Keras applications),
 * seeded initialisers, width-scaled channel counts.
 *
 * Builders run through {@link buildWith}: first a dry run, in which every
 * weighted layer is a weightless stand-in of the right output shape and its
 * weights are only counted, so a width or input the model cannot take is a
 * {@link ModelOptionsError} before any weight is made; then the real build.
 *
 * @example
 * ```ts
 * const model = buildWith("tiny", { inputShape: [32, 32, 3], numClasses: 10 }, TORCH, (kit) => {
 *   const x = tf.input({ shape: [32, 32, 3] });
 *   const y = kit.relu(kit.bn(kit.conv(x, "conv1", kit.ch(64), 3), "bn1"), "relu1");
 *   const gap = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(y) as tf.SymbolicTensor;
 *   return tf.model({ inputs: x, outputs: kit.dense(gap, "fc", 10) });
 * });
 * ```
 * @module
 */
import { MaskedReLU, Rng, tf } from "@shears/core";
import { type ModelOptions, ModelOptionsError, scaleWidth } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Most channels one layer of a zoo model may have. */
export const MAX_CHANNELS = 65536;
/** Most weights one zoo model may have (4 GiB of float32). */
export const MAX_WEIGHTS = 2 ** 30;

/** How a family of builders makes its layers. */
export interface Conventions {
  /** BatchNorm epsilon, momentum (tfjs: of the moving average) and axis (-1, or 3 as Keras saves NHWC). */
  bnEpsilon: number;
  bnMomentum: number;
  bnAxis: number;
  /**
   * Conv "same" padding with stride > 1: "torch" pads floor(k / 2) on every
   * side (a ZeroPadding2D `${name}_pad` before a "valid" conv), "tf" pads as
   * TensorFlow does (the extra row and column after).
   */
  samePadding: "torch" | "tf";
  /** Conv kernel initialiser: He normal fan_out (torchvision), Glorot uniform (Keras' default). */
  convInit: "he_fan_out" | "glorot_uniform";
  /** Whether convs have a bias unless told. */
  convBias: boolean;
}

/** PyTorch's conventions (the CIFAR ResNets and VGGs, LeNet, MLP). */
export const TORCH: Conventions = {
  bnEpsilon: 1e-5,
  bnMomentum: 0.9,
  bnAxis: -1,
  samePadding: "torch",
  convInit: "he_fan_out",
  convBias: false,
};

/** Keras' defaults (the Keras applications override epsilon, momentum and axis per model). */
export const KERAS: Conventions = {
  bnEpsilon: 1e-3,
  bnMomentum: 0.99,
  bnAxis: 3,
  samePadding: "tf",
  convInit: "glorot_uniform",
  convBias: true,
};

/** Options of {@link LayerKit.conv} and the other convolutions. */
export interface ConvOptions {
  /** Stride, default 1. */
  stride?: number;
  /** Add a bias (default: the conventions' `convBias`). */
  bias?: boolean;
  /** "same" (default; with stride > 1 see {@link Conventions.samePadding}) or "valid". */
  padding?: "same" | "valid";
  /** Depth multiplier of a depthwise or separable conv, default 1. */
  depthMultiplier?: number;
}

/** Options of {@link LayerKit.bn} beyond the conventions. */
export interface BnOptions {
  epsilon?: number;
  /** Learn gamma (default true; Inception-V3's BNs have none). */
  scale?: boolean;
}

/** A weightless stand-in for a weighted layer in a dry run: only its output shape. */
class DryRun extends tf.layers.Layer {
  static className = "DryRun";
  readonly #shape: tf.Shape | tf.Shape[];
  constructor(name: string, shape: tf.Shape | tf.Shape[]) {
    super({ name });
    this.#shape = shape;
  }
  override computeOutputShape(): tf.Shape | tf.Shape[] {
    return this.#shape;
  }
  override call(): tf.Tensor {
    throw new Error(`'${this.name}' is a dry-run stand-in; it does not compute`);
  }
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
const pair = (k: number | [number, number]): [number, number] => typeof k === "number" ? [k, k] : k;

/** Shared layer constructors for one model build; see the module doc. */
export class LayerKit {
  readonly #model: string;
  readonly #width: number;
  readonly #gamma: number;
  readonly #rng?: Rng;
  readonly #dry: boolean;
  readonly #c: Conventions;
  #weights = 0;

  constructor(
    opts: ModelOptions,
    settings: { model?: string; dry?: boolean; conventions?: Conventions } = {},
  ) {
    this.#model = settings.model ?? "model";
    this.#width = opts.width ?? 1;
    this.#gamma = opts.bnGammaInit ?? 1;
    this.#rng = opts.seed === undefined ? undefined : new Rng(opts.seed);
    this.#dry = settings.dry ?? false;
    this.#c = settings.conventions ?? TORCH;
  }

  /** A channel count scaled by the width multiplier. */
  ch(c: number): number {
    return this.channels(scaleWidth(c, this.#width));
  }

  /** `n` checked as a channel count (at most {@link MAX_CHANNELS}). */
  channels(n: number): number {
    if (n > MAX_CHANNELS) {
      throw new ModelOptionsError(
        `${this.#model}: width ${this.#width} makes a layer of ${n} channels, more than ` +
          `${MAX_CHANNELS}; use a smaller width`,
      );
    }
    return n;
  }

  #seed(): number | undefined {
    return this.#rng?.int(2 ** 31);
  }

  /**
   * Applies `layer` to `x`; in a dry run counts its `weights` instead and
   * stands in a weightless layer of its output shape.
   */
  apply(layer: tf.layers.Layer, x: ST | ST[], weights: number): ST {
    if (!this.#dry) return layer.apply(x) as ST;
    this.#weights += weights;
    if (this.#weights > MAX_WEIGHTS) {
      throw new ModelOptionsError(
        `${this.#model}: width ${this.#width} makes more than ${MAX_WEIGHTS} weights ` +
          `(${this.#weights} by layer '${layer.name}'); use a smaller width`,
      );
    }
    const shape = Array.isArray(x) ? x.map((t) => t.shape) : x.shape;
    return new DryRun(layer.name, layer.computeOutputShape(shape)).apply(x) as ST;
  }

  #kernelInit(fanOut: number): ReturnType<typeof tf.initializers.zeros> {
    const seed = this.#seed();
    return this.#c.convInit === "glorot_uniform"
      ? tf.initializers.glorotUniform({ seed })
      : tf.initializers.randomNormal({ mean: 0, stddev: Math.sqrt(2 / fanOut), seed });
  }

  /** Pads for "same" with stride > 1 the PyTorch way, if the conventions say so; the padding to use. */
  #same(x: ST, name: string, k: [number, number], stride: number, o: ConvOptions) {
    const padding = o.padding ?? "same";
    if (padding !== "same" || stride === 1 || this.#c.samePadding === "tf") return { x, padding };
    const [ph, pw] = k.map((n) => Math.floor(n / 2));
    if (ph > 0 || pw > 0) {
      x = tf.layers.zeroPadding2d({ name: `${name}_pad`, padding: [ph, pw] }).apply(x) as ST;
    }
    return { x, padding: "valid" as const };
  }

  /** A conv layer made by `make`: linear, the conventions' kernel initialiser and bias. */
  #conv(
    make: (args: Parameters<typeof tf.layers.conv2d>[0]) => tf.layers.Layer,
    x: ST,
    name: string,
    filters: number,
    k: number | [number, number],
    o: ConvOptions,
  ): ST {
    const area = typeof k === "number" ? k : k[0] * k[1], bias = o.bias ?? this.#c.convBias;
    const cin = x.shape[x.shape.length - 1] as number;
    const layer = make({
      name,
      filters,
      kernelSize: k,
      strides: o.stride ?? 1,
      padding: o.padding,
      useBias: bias,
      kernelInitializer: this.#kernelInit(area * filters),
    });
    return this.apply(layer, x, area * cin * filters + (bias ? filters : 0));
  }

  /**
   * A 2-D conv, linear. Kernel initialiser per the conventions (He normal
   * fan_out is N(0, 2 / (kh * kw * filters)), untruncated, as torchvision's
   * kaiming_normal_(mode="fan_out")).
   */
  conv(
    x: ST,
    name: string,
    filters: number,
    kernel: number | [number, number],
    o: ConvOptions = {},
  ): ST {
    const k = pair(kernel);
    const s = this.#same(x, name, k, o.stride ?? 1, o);
    return this.#conv(tf.layers.conv2d, s.x, name, filters, k, { ...o, padding: s.padding });
  }

  /** What a depthwise and a separable conv share: the padded input, layer args, weight counts. */
  #depthwiseParts(x: ST, name: string, kernel: number, o: ConvOptions) {
    const k = pair(kernel), stride = o.stride ?? 1, m = o.depthMultiplier ?? 1;
    const cm = (x.shape[x.shape.length - 1] as number) * m;
    const s = this.#same(x, name, k, stride, o);
    const args = {
      name,
      kernelSize: k,
      strides: stride,
      padding: s.padding,
      depthMultiplier: m,
      useBias: o.bias ?? this.#c.convBias,
      depthwiseInitializer: this.#kernelInit(k[0] * k[1] * m),
    };
    return { x: s.x, args, depthwise: prod(k) * cm, cm };
  }

  /** A depthwise conv, linear. */
  depthwise(x: ST, name: string, kernel: number, o: ConvOptions = {}): ST {
    const p = this.#depthwiseParts(x, name, kernel, o);
    const layer = tf.layers.depthwiseConv2d(p.args);
    return this.apply(layer, p.x, p.depthwise + (p.args.useBias ? p.cm : 0));
  }

  /** A separable conv (depthwise then pointwise), linear. */
  separable(x: ST, name: string, filters: number, kernel: number, o: ConvOptions = {}): ST {
    const p = this.#depthwiseParts(x, name, kernel, o);
    const layer = tf.layers.separableConv2d({
      ...p.args,
      filters,
      pointwiseInitializer: this.#kernelInit(filters),
    });
    return this.apply(layer, p.x, p.depthwise + p.cm * filters + (p.args.useBias ? filters : 0));
  }

  /** A transposed conv ("up-convolution"), linear, "same" (default) or "valid" as tfjs pads it. */
  convTranspose(x: ST, name: string, filters: number, kernel: number, o: ConvOptions = {}): ST {
    const padding = o.padding ?? "same";
    return this.#conv(tf.layers.conv2dTranspose, x, name, filters, pair(kernel), { ...o, padding });
  }

  /** A 1-D conv over the second-last axis, linear, "valid" (default) or "same". */
  conv1d(x: ST, name: string, filters: number, kernel: number, o: ConvOptions = {}): ST {
    return this.#conv(tf.layers.conv1d, x, name, filters, kernel, {
      ...o,
      padding: o.padding ?? "valid",
    });
  }

  /** BatchNorm over channels with the conventions' epsilon, momentum and axis; gamma = bnGammaInit. */
  bn(x: ST, name: string, o: BnOptions = {}): ST {
    const layer = tf.layers.batchNormalization({
      name,
      axis: this.#c.bnAxis,
      epsilon: o.epsilon ?? this.#c.bnEpsilon,
      momentum: this.#c.bnMomentum,
      scale: o.scale ?? true,
      gammaInitializer: tf.initializers.constant({ value: this.#gamma }),
    });
    return this.apply(layer, x, 4 * (x.shape[x.shape.length - 1] as number));
  }

  /** A separate ReLU layer, or a MaskedReLU when `masked`. */
  relu(x: ST, name: string, masked = false): ST {
    if (!masked) return tf.layers.reLU({ name }).apply(x) as ST;
    return this.apply(new MaskedReLU({ name }), x, prod(x.shape.slice(1) as number[]));
  }

  /** A Dense layer (linear, Glorot-uniform kernel, zero bias unless `bias` is false). */
  dense(x: ST, name: string, units: number, bias = true): ST {
    const cin = x.shape[x.shape.length - 1] as number;
    const layer = tf.layers.dense({
      name,
      units,
      useBias: bias,
      kernelInitializer: tf.initializers.glorotUniform({ seed: this.#seed() }),
    });
    return this.apply(layer, x, cin * units + (bias ? units : 0));
  }

  /** An Embedding of `inputDim` token ids into `outputDim` channels (uniform(-0.05, 0.05), as Keras). */
  embedding(x: ST, name: string, inputDim: number, outputDim: number): ST {
    const layer = tf.layers.embedding({
      name,
      inputDim,
      outputDim,
      embeddingsInitializer: tf.initializers.randomUniform({
        minval: -0.05,
        maxval: 0.05,
        seed: this.#seed(),
      }),
    });
    return this.apply(layer, x, inputDim * outputDim);
  }
}

/**
 * Builds a model with `build`: a dry run first (weights counted, not made;
 * a too large width, or an input too small for some layer, is a
 * {@link ModelOptionsError} naming it), then for real.
 */
export function buildWith(
  model: string,
  opts: ModelOptions,
  conventions: Conventions,
  build: (kit: LayerKit) => tf.LayersModel,
): tf.LayersModel {
  const shape = JSON.stringify(opts.inputShape);
  let dry: tf.LayersModel;
  try {
    dry = build(new LayerKit(opts, { model, dry: true, conventions }));
  } catch (e) {
    if (e instanceof ModelOptionsError) throw e;
    throw new ModelOptionsError(
      `${model}: cannot be built for inputShape ${shape}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  try {
    for (const l of dry.layers) {
      const outs =
        (Array.isArray(l.outputShape[0]) ? l.outputShape : [l.outputShape]) as number[][];
      if (outs.some((s) => s.slice(1).some((d) => d !== null && d < 1))) {
        throw new ModelOptionsError(
          `${model}: inputShape ${shape} is too small: layer '${l.name}' would output ` +
            `${JSON.stringify(outs[0].slice(1))}`,
        );
      }
    }
  } finally {
    dry.dispose();
  }
  return build(new LayerKit(opts, { model, conventions }));
}
