/**
 * U-Net (Ronneberger et al. 2015) for segmentation: a contracting path of
 * 4 levels (two 3x3 conv + ReLU, 2x2 max-pool; 64-128-256-512 channels), a
 * 1024-channel bottom, an expanding path (2x2 up-convolution halving the
 * channels, concatenation with the contracting level's output, two 3x3 conv
 * + ReLU), and a 1x1 conv to per-pixel class logits: the output is
 * [H, W, numClasses]. "same" padding (as Keras U-Nets write it), so
 * outputs keep the input's size; the paper's valid convolutions would need
 * cropping. `up: "upsample"` uses UpSampling2D + 2x2 conv instead of the
 * transposed conv; `batchNorm` adds BN after each 3x3 conv. `width`
 * scales every channel count.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import { checkOptions, type ModelOptions, ModelOptionsError } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Options of {@link unet}. */
export interface UNetOptions extends ModelOptions {
  /** Up-sampling: 2x2 transposed conv (default, the paper's up-convolution) or UpSampling2D + 2x2 conv. */
  up?: "transpose" | "upsample";
  /** BN after each 3x3 conv, default false. */
  batchNorm?: boolean;
}

const LEVELS = [64, 128, 256, 512];

/**
 * U-Net; layers `down{l}_conv{i}`, `down{l}_pool`, `bottom_conv{i}`,
 * `up{l}_up`, `up{l}_concat`, `up{l}_conv{i}` (i = 1, 2; each conv followed by
 * `_relu{i}`, with `_bn{i}` between them with `batchNorm`), `logits`. 31,030,658
 * parameters for 1 input channel and 2 classes. Input sides must be
 * multiples of 16.
 * @example
 * ```ts
 * const m = unet({ inputShape: [128, 128, 1], numClasses: 2, width: 0.25 });
 * ```
 */
export function unet(opts: UNetOptions): tf.LayersModel {
  checkOptions("unet", opts, 3);
  const [h, w] = opts.inputShape;
  if (h % 16 || w % 16) {
    throw new ModelOptionsError(
      `unet: inputShape sides must be multiples of 16 (4 poolings), got ${
        JSON.stringify(opts.inputShape)
      }`,
    );
  }
  const up = opts.up ?? "transpose";
  if (up !== "transpose" && up !== "upsample") {
    throw new ModelOptionsError(
      `unet: up must be "transpose" or "upsample", got ${JSON.stringify(up)}`,
    );
  }
  return buildWith("unet", opts, { ...KERAS, bnAxis: -1 }, (kit) => {
    const double = (x: ST, p: string, f: number) => {
      for (const i of [1, 2]) {
        x = kit.conv(x, `${p}_conv${i}`, f, 3);
        if (opts.batchNorm) x = kit.bn(x, `${p}_bn${i}`);
        x = kit.relu(x, `${p}_relu${i}`);
      }
      return x;
    };
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    const skips: ST[] = [];
    let x = input;
    LEVELS.forEach((f, l) => {
      x = double(x, `down${l + 1}`, kit.ch(f));
      skips.push(x);
      x = tf.layers.maxPooling2d({ name: `down${l + 1}_pool`, poolSize: 2 }).apply(x) as ST;
    });
    x = double(x, "bottom", kit.ch(1024));
    for (let l = LEVELS.length; l >= 1; l--) {
      const f = kit.ch(LEVELS[l - 1]);
      x = upsample(kit, x, `up${l}`, f, up);
      x = tf.layers.concatenate({ name: `up${l}_concat` }).apply([skips[l - 1], x]) as ST;
      x = double(x, `up${l}`, f);
    }
    const logits = kit.conv(x, "logits", opts.numClasses, 1);
    return tf.model({ inputs: input, outputs: logits, name: "unet" });
  });
}

function upsample(kit: LayerKit, x: ST, p: string, f: number, up: "transpose" | "upsample"): ST {
  if (up === "transpose") return kit.convTranspose(x, `${p}_up`, f, 2, { stride: 2 });
  const y = tf.layers.upSampling2d({ name: `${p}_upsample`, size: [2, 2] }).apply(x) as ST;
  return kit.conv(y, `${p}_up`, f, 2);
}
