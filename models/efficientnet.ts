/**
 * EfficientNet-B0 (Tan & Le 2019) as keras.applications.EfficientNetB0
 * builds it: stem conv 3x3/2 (swish), 16 MBConv blocks (expand 1x1,
 * depthwise 3x3 or 5x5, squeeze-and-excitation with 1x1 convs on the
 * [1, 1, C] squeeze, project 1x1, stochastic-depth Dropout and Add where
 * shapes match), top conv 1x1 to 1280, global average pooling, dropout 0.2.
 * Keras' preprocessing (Rescaling and a Normalization layer whose mean,
 * variance and count are 7 non-trainable weights) is left out: 5,330,564
 * weights at width 1 for 1000 classes, Keras' 5,330,571 minus those 7.
 * `width` is the width coefficient (channels rounded to multiples of 8).
 * The top is logits.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import { activation, classifierTop, correctPad, squeezeExcite, zeroPad } from "./keras_blocks.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

/** [kernel, repeats, filters in, filters out, expand ratio, stride] of B0's 7 stages (SE 0.25). */
const STAGES: [number, number, number, number, number, number][] = [
  [3, 1, 32, 16, 1, 1],
  [3, 2, 16, 24, 6, 2],
  [5, 2, 24, 40, 6, 2],
  [3, 3, 40, 80, 6, 2],
  [5, 3, 80, 112, 6, 1],
  [5, 4, 112, 192, 6, 2],
  [3, 1, 192, 320, 6, 1],
];

/** Keras' `round_filters` for width coefficient w (divisor 8). */
function roundFilters(filters: number, w: number): number {
  const f = filters * w;
  const n = Math.max(8, Math.floor(Math.trunc(f + 4) / 8) * 8);
  return n < 0.9 * f ? n + 8 : n;
}

interface MbConv {
  kernel: number;
  filtersIn: number;
  filtersOut: number;
  expand: number;
  stride: number;
  dropRate: number;
}

/** Keras' `block`: one MBConv with squeeze-and-excitation (ratio 0.25 of the input filters). */
function mbConv(kit: LayerKit, input: ST, b: MbConv, p: string): ST {
  const filters = kit.channels(b.filtersIn * b.expand);
  let x = input;
  if (b.expand !== 1) {
    x = kit.bn(kit.conv(x, `${p}expand_conv`, filters, 1, { bias: false }), `${p}expand_bn`);
    x = activation(x, "swish", `${p}expand_activation`);
  }
  if (b.stride === 2) x = zeroPad(x, `${p}dwconv_pad`, correctPad(x, b.kernel));
  const padding = b.stride === 2 ? "valid" : "same";
  x = kit.depthwise(x, `${p}dwconv`, b.kernel, { stride: b.stride, padding, bias: false });
  x = activation(kit.bn(x, `${p}bn`), "swish", `${p}activation`);
  const squeeze = Math.max(1, Math.trunc(b.filtersIn * 0.25));
  x = squeezeExcite(kit, x, `${p}se_`, {
    squeeze,
    reduce: "swish",
    expand: "sigmoid",
    layers: "conv",
  });
  x = kit.bn(kit.conv(x, `${p}project_conv`, b.filtersOut, 1, { bias: false }), `${p}project_bn`);
  if (b.stride === 1 && b.filtersIn === b.filtersOut) {
    if (b.dropRate > 0) {
      x = tf.layers.dropout({
        name: `${p}drop`,
        rate: b.dropRate,
        noiseShape: [null, 1, 1, 1] as number[],
      })
        .apply(x) as ST;
    }
    x = tf.layers.add({ name: `${p}add` }).apply([x, input]) as ST;
  }
  return x;
}

/**
 * EfficientNet-B0 (keras.applications.EfficientNetB0 without its
 * preprocessing layers); see the module doc.
 * @example
 * ```ts
 * const m = efficientnetB0({ inputShape: [224, 224, 3], numClasses: 1000 });
 * ```
 */
export function efficientnetB0(opts: ModelOptions): tf.LayersModel {
  checkOptions("efficientnet_b0", opts, 3);
  const w = opts.width ?? 1;
  return buildWith("efficientnet_b0", opts, KERAS, (kit) => {
    const round = (f: number) => kit.channels(roundFilters(f, w));
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = zeroPad(input, "stem_conv_pad", correctPad(input, 3));
    x = kit.conv(x, "stem_conv", round(32), 3, { stride: 2, padding: "valid", bias: false });
    x = activation(kit.bn(x, "stem_bn"), "swish", "stem_activation");
    const total = STAGES.reduce((s, st) => s + st[1], 0);
    let b = 0;
    STAGES.forEach(([kernel, repeats, fin, fout, expand, stride], i) => {
      for (let j = 0; j < repeats; j++) {
        const block = {
          kernel,
          filtersIn: j === 0 ? round(fin) : round(fout),
          filtersOut: round(fout),
          expand,
          stride: j === 0 ? stride : 1,
          dropRate: (0.2 * b++) / total,
        };
        x = mbConv(kit, x, block, `block${i + 1}${String.fromCharCode(97 + j)}_`);
      }
    });
    x = kit.bn(kit.conv(x, "top_conv", round(1280), 1, { bias: false }), "top_bn");
    x = activation(x, "swish", "top_activation");
    const logits = classifierTop(kit, x, opts.numClasses, 0.2);
    return tf.model({ inputs: input, outputs: logits, name: "efficientnet_b0" });
  });
}
