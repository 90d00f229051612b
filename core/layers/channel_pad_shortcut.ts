/**
 * ChannelPadShortcut: the parameter-free "option A" shortcut of the CIFAR
 * ResNets (He et al. 2016; ResNet-20/56). It subsamples space by keeping every
 * `stride`-th row and column, starting at 0 (PyTorch `x[:, :, ::s, ::s]`), and
 * zero-pads the channel axis: `padBefore` zero channels, then the input's C
 * channels, then `padAfter` zero channels.
 *
 * Channel mapping (what a channel dependency graph needs): output channel
 * `padBefore + i` is input channel `i` for i in [0, C); output channels
 * [0, padBefore) and [padBefore + C, padBefore + C + padAfter) are always zero
 * and belong to no input channel. Removing input channel i therefore removes
 * output channel padBefore + i (and the layer's C shrinks by one).
 *
 * Channels-last (NHWC), like every Shears model.
 *
 * Standard form (export): a 1x1 Conv2D with stride `stride`, "valid"
 * padding and no bias whose kernel embeds input channel i in output channel
 * `padBefore + i` (a one-hot column per input channel). Valid padding keeps
 * rows and columns 0, s, 2s, ..., ceil(h / s) of them, and each output is
 * one input times 1 plus zeros: the same numbers exactly. With stride 1 and
 * no padding the layer is the identity and is removed.
 *
 * @example
 * ```ts
 * // 16 -> 32 channels, half the spatial size
 * const y = new ChannelPadShortcut({ stride: 2, padBefore: 8, padAfter: 8, name: "s" })
 *   .apply(x) as tf.SymbolicTensor;
 * ```
 * @module
 */
import { tf } from "../tf.ts";
import { registerExportForm } from "../export/forms.ts";

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/** Constructor arguments (also the serialized config) of {@link ChannelPadShortcut}. */
export interface ChannelPadShortcutArgs extends NonNullable<LayerArgs> {
  /** Spatial subsampling step (1 = none). */
  stride?: number;
  /** Zero channels placed before the input's channels. */
  padBefore?: number;
  /** Zero channels placed after the input's channels. */
  padAfter?: number;
}

/** Spatial stride + zero channel padding, no weights; see the module doc. */
export class ChannelPadShortcut extends tf.layers.Layer {
  /** Name under which the class is serialized. */
  static className = "ChannelPadShortcut";
  /** Spatial subsampling step. */
  readonly stride: number;
  /** Zero channels before the input channels. */
  readonly padBefore: number;
  /** Zero channels after the input channels. */
  readonly padAfter: number;

  constructor(args: ChannelPadShortcutArgs = {}) {
    super(args);
    this.stride = args.stride ?? 1;
    this.padBefore = args.padBefore ?? 0;
    this.padAfter = args.padAfter ?? 0;
    for (
      const [key, v, min] of [
        ["stride", this.stride, 1],
        ["padBefore", this.padBefore, 0],
        ["padAfter", this.padAfter, 0],
      ] as const
    ) {
      if (!Number.isInteger(v) || v < min) {
        throw new Error(`ChannelPadShortcut ${key} must be an integer >= ${min}, got ${v}`);
      }
    }
  }

  /**
   * One pad (channels, and H, W up to multiples of the stride), then per
   * spatial axis a reshape that puts the stride phase on its own axis and a
   * slice of phase 0. Only Pad, Reshape and Slice (all rank 4): every backend
   * has them and their gradients (tfjs has no StridedSlice gradient).
   */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const s = this.stride;
      const [n, h, w, c] = x.shape;
      const [oh, ow, oc] = [Math.ceil(h / s), Math.ceil(w / s), c + this.padBefore + this.padAfter];
      const padded = tf.pad(x, [
        [0, 0],
        [0, oh * s - h],
        [0, ow * s - w],
        [this.padBefore, this.padAfter],
      ]);
      if (s === 1) return padded;
      const rows = padded.reshape([n, oh, s, ow * s * oc]).slice([0, 0, 0, 0], [n, oh, 1, -1]);
      const cols = rows.reshape([n * oh, ow, s, oc]).slice([0, 0, 0, 0], [n * oh, ow, 1, oc]);
      return cols.reshape([n, oh, ow, oc]);
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const [n, h, w, c] = shape;
    const sub = (d: number | null) => (d == null ? null : Math.ceil(d / this.stride));
    return [n, sub(h), sub(w), c == null ? null : c + this.padBefore + this.padAfter];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      stride: this.stride,
      padBefore: this.padBefore,
      padAfter: this.padAfter,
    };
  }
}
tf.serialization.registerClass(ChannelPadShortcut);

registerExportForm(ChannelPadShortcut.className, (layer) => {
  const { stride, padBefore, padAfter } = layer as ChannelPadShortcut;
  if (stride === 1 && padBefore === 0 && padAfter === 0) return null;
  const c = (layer.input as tf.SymbolicTensor).shape.at(-1)!, out = padBefore + c + padAfter;
  // Built on the host: tfjs-wasm's OneHot with a float32 dtype writes integer bit patterns.
  const embed = new Float32Array(c * out);
  for (let i = 0; i < c; i++) embed[i * out + padBefore + i] = 1;
  const kernel = tf.tensor4d(embed, [1, 1, c, out]);
  return {
    className: "Conv2D",
    config: {
      filters: out,
      kernelSize: [1, 1],
      strides: [stride, stride],
      padding: "valid",
      dataFormat: "channelsLast",
      useBias: false,
      activation: "linear",
    },
    weights: [kernel],
  };
});
