/**
 * LayerKit: the few layer constructors every builder shares, with Shears'
 * conventions applied once — linear convs/denses followed by separate
 * activation layers, PyTorch-equivalent BatchNorm, He-normal (fan_out) conv
 * kernels, seeded initialisers, width-scaled channel counts.
 *
 * @example
 * ```ts
 * const kit = new LayerKit({ inputShape: [32, 32, 3], numClasses: 10, width: 0.5 });
 * const x = tf.input({ shape: [32, 32, 3] });
 * const y = kit.relu(kit.bn(kit.conv(x, "conv1", kit.ch(64), 3), "bn1"), "relu1");
 * ```
 * @module
 */
import { MaskedReLU, Rng, tf } from "@shears/core";
import { type ModelOptions, scaleWidth } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Options of {@link LayerKit.conv}. */
export interface ConvOptions {
  /** Stride, default 1. */
  stride?: number;
  /** Add a bias (default false: convs followed by BN have none, as in PyTorch). */
  bias?: boolean;
  /** "same" (default: PyTorch's padding k // 2, see {@link LayerKit.conv}) or "valid". */
  padding?: "same" | "valid";
}

/** Shared layer constructors for one model build; see the module doc. */
export class LayerKit {
  readonly #width: number;
  readonly #gamma: number;
  readonly #rng?: Rng;

  constructor(opts: ModelOptions) {
    this.#width = opts.width ?? 1;
    this.#gamma = opts.bnGammaInit ?? 1;
    this.#rng = opts.seed === undefined ? undefined : new Rng(opts.seed);
  }

  /** A channel count scaled by the width multiplier. */
  ch(c: number): number {
    return scaleWidth(c, this.#width);
  }

  #seed(): number | undefined {
    return this.#rng?.int(2 ** 31);
  }

  /**
   * A square conv, linear, He-normal fan_out kernel: N(0, 2 / (k * k * filters)),
   * untruncated, as torchvision's kaiming_normal_(mode="fan_out").
   *
   * "same" means PyTorch's padding = floor(k / 2) on every side. With stride 1
   * and an odd kernel that is tfjs "same"; with stride > 1 tfjs would pad
   * asymmetrically (nothing before, more after), shifting every output by a
   * pixel against PyTorch and the option-A shortcut, so a ZeroPadding2D layer
   * `${name}_pad` pads symmetrically before a "valid" conv instead.
   */
  conv(x: ST, name: string, filters: number, kernel: number, o: ConvOptions = {}): ST {
    const stddev = Math.sqrt(2 / (kernel * kernel * filters));
    const stride = o.stride ?? 1;
    let padding = o.padding ?? "same";
    const pad = Math.floor(kernel / 2);
    if (padding === "same" && stride > 1) {
      if (pad > 0) {
        x = tf.layers.zeroPadding2d({ name: `${name}_pad`, padding: pad }).apply(x) as ST;
      }
      padding = "valid";
    }
    return tf.layers.conv2d({
      name,
      filters,
      kernelSize: kernel,
      strides: stride,
      padding,
      useBias: o.bias ?? false,
      kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev, seed: this.#seed() }),
    }).apply(x) as ST;
  }

  /** BatchNorm over channels, epsilon 1e-5, momentum 0.9 (PyTorch's 0.1), gamma = bnGammaInit. */
  bn(x: ST, name: string): ST {
    return tf.layers.batchNormalization({
      name,
      axis: -1,
      epsilon: 1e-5,
      momentum: 0.9,
      gammaInitializer: tf.initializers.constant({ value: this.#gamma }),
    }).apply(x) as ST;
  }

  /** A separate ReLU layer, or a MaskedReLU when `masked`. */
  relu(x: ST, name: string, masked = false): ST {
    const layer = masked ? new MaskedReLU({ name }) : tf.layers.reLU({ name });
    return layer.apply(x) as ST;
  }

  /** A linear Dense layer with a Glorot-uniform kernel and zero bias. */
  dense(x: ST, name: string, units: number): ST {
    return tf.layers.dense({
      name,
      units,
      kernelInitializer: tf.initializers.glorotUniform({ seed: this.#seed() }),
    }).apply(x) as ST;
  }
}
