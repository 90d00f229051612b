/**
 * MobileNet V3-Small (Howard et al. 2019) as keras.applications builds it
 * (not minimalistic): hard-swish and ReLU inverted residual blocks with
 * squeeze-and-excitation (hard-sigmoid gate), `width` as Keras' `alpha`.
 * hard_sigmoid(x) = relu6(x + 3) / 6 is written with stock layers,
 * Rescaling(1/6, offset 0.5) then ReLU(maxValue 1). The top is logits;
 * Keras' Rescaling preprocessing layer (no weights) is left out.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, type LayerKit } from "./layer_kit.ts";
import {
  type Act,
  activation,
  correctPad,
  makeDivisible,
  MOBILENET,
  squeezeExcite,
  zeroPad,
} from "./keras_blocks.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Keras' `_inverted_res_block` of MobileNet V3. */
function block(
  kit: LayerKit,
  input: ST,
  [expansion, filters, k, stride, se, act]: Block,
  id: number,
): ST {
  const inCh = input.shape[3] as number;
  const p = id ? `expanded_conv_${id}_` : "expanded_conv_";
  const expanded = kit.channels(makeDivisible(inCh * expansion));
  let x = input;
  if (id) {
    x = kit.bn(kit.conv(x, `${p}expand`, expanded, 1, { bias: false }), `${p}expand_bn`);
    x = activation(x, act, `${p}expand_act`);
  }
  if (stride === 2) x = zeroPad(x, `${p}depthwise_pad`, correctPad(x, k));
  const padding = stride === 1 ? "same" : "valid";
  x = kit.depthwise(x, `${p}depthwise`, k, { stride, padding, bias: false });
  x = activation(kit.bn(x, `${p}depthwise_bn`), act, `${p}depthwise_act`);
  if (se) {
    const squeeze = kit.channels(makeDivisible(expanded * 0.25));
    x = squeezeExcite(kit, x, `${p}squeeze_excite_`, {
      squeeze,
      reduce: "relu",
      expand: "hard_sigmoid",
      layers: "conv",
    });
  }
  x = kit.bn(kit.conv(x, `${p}project`, filters, 1, { bias: false }), `${p}project_bn`);
  if (stride === 1 && inCh === filters) {
    x = tf.layers.add({ name: `${p}add` }).apply([input, x]) as ST;
  }
  return x;
}

/** [expansion, filters (full width), kernel, stride, squeeze-excite, activation]. */
type Block = [number, number, number, number, boolean, Act];

const SMALL: Block[] = [
  [1, 16, 3, 2, true, "relu"],
  [72 / 16, 24, 3, 2, false, "relu"],
  [88 / 24, 24, 3, 1, false, "relu"],
  [4, 40, 5, 2, true, "hard_swish"],
  [6, 40, 5, 1, true, "hard_swish"],
  [6, 40, 5, 1, true, "hard_swish"],
  [3, 48, 5, 1, true, "hard_swish"],
  [3, 48, 5, 1, true, "hard_swish"],
  [6, 96, 5, 2, true, "hard_swish"],
  [6, 96, 5, 1, true, "hard_swish"],
  [6, 96, 5, 1, true, "hard_swish"],
];

/**
 * MobileNet V3-Small (keras.applications.MobileNetV3Small): conv 3x3/2 (16,
 * hard-swish), 11 inverted residual blocks, conv 1x1 (6x the last width),
 * global average pooling, Reshape to [1, 1, C], conv 1x1 to 1024 (with bias,
 * hard-swish), dropout 0.2, conv 1x1 `logits`, Flatten. 2,554,968 weights at
 * width 1 for 1000 classes, as Keras counts.
 * @example
 * ```ts
 * const m = mobilenetV3Small({ inputShape: [224, 224, 3], numClasses: 1000, width: 0.75 });
 * ```
 */
export function mobilenetV3Small(opts: ModelOptions): tf.LayersModel {
  checkOptions("mobilenet_v3_small", opts, 3);
  const alpha = opts.width ?? 1;
  return buildWith("mobilenet_v3_small", opts, MOBILENET, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = kit.bn(kit.conv(input, "conv", 16, 3, { stride: 2, bias: false }), "conv_bn");
    x = activation(x, "hard_swish", "conv_act");
    SMALL.forEach(([e, f, k, s, se, act], id) => {
      x = block(kit, x, [e, kit.channels(makeDivisible(f * alpha)), k, s, se, act], id);
    });
    const lastConv = kit.channels(makeDivisible((x.shape[3] as number) * 6));
    const lastPoint = kit.channels(alpha > 1 ? makeDivisible(1024 * alpha) : 1024);
    x = kit.bn(kit.conv(x, "conv_1", lastConv, 1, { bias: false }), "conv_1_bn");
    x = activation(x, "hard_swish", "conv_1_act");
    x = tf.layers.globalAveragePooling2d({ name: "avg_pool" }).apply(x) as ST;
    x = tf.layers.reshape({ name: "avg_pool_reshape", targetShape: [1, 1, lastConv] }).apply(
      x,
    ) as ST;
    x = activation(kit.conv(x, "conv_2", lastPoint, 1, { bias: true }), "hard_swish", "conv_2_act");
    x = tf.layers.dropout({ name: "dropout", rate: 0.2 }).apply(x) as ST;
    x = kit.conv(x, "logits", opts.numClasses, 1, { bias: true });
    const logits = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
    return tf.model({ inputs: input, outputs: logits, name: "mobilenet_v3_small" });
  });
}
