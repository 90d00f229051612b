/**
 * MobileNet V1 (Howard et al. 2017) and V2 (Sandler et al. 2018), as
 * keras.applications builds them: the same layers, names, paddings, BN
 * settings and channel rounding, `width` as Keras' `alpha`. The top is
 * logits (Keras ends in a softmax); there is no preprocessing layer.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import {
  activation,
  classifierTop,
  correctPad,
  makeDivisible,
  MOBILENET,
  zeroPad,
} from "./keras_blocks.ts";
import { checkOptions, type ModelOptions, ModelOptionsError } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Options of {@link mobilenetV1}. */
export interface MobileNetOptions extends ModelOptions {
  /** Depthwise multiplier of the V1 blocks (Keras' `depth_multiplier`), default 1. */
  depthMultiplier?: number;
}

/** Keras' `_depthwise_conv_block` of MobileNet V1. */
function dwBlock(kit: LayerKit, x: ST, filters: number, stride: number, id: number, m: number): ST {
  if (stride === 2) x = zeroPad(x, `conv_pad_${id}`, [[0, 1], [0, 1]]);
  const padding = stride === 1 ? "same" : "valid";
  x = kit.depthwise(x, `conv_dw_${id}`, 3, { stride, padding, bias: false, depthMultiplier: m });
  x = activation(kit.bn(x, `conv_dw_${id}_bn`), "relu6", `conv_dw_${id}_relu`);
  x = kit.conv(x, `conv_pw_${id}`, filters, 1, { bias: false });
  return activation(kit.bn(x, `conv_pw_${id}_bn`), "relu6", `conv_pw_${id}_relu`);
}

const V1_BLOCKS: [number, number][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/**
 * MobileNet V1 (keras.applications.MobileNet): conv 3x3/2 + 13 depthwise
 * separable blocks, global average pooling, Reshape to [1, 1, C], dropout
 * 0.001, a 1x1 conv `conv_preds` and a Reshape to [classes] (the logits).
 * 4,253,864 weights (Keras' count) at width 1 for 1000 classes.
 * @example
 * ```ts
 * const m = mobilenetV1({ inputShape: [224, 224, 3], numClasses: 1000, width: 0.25 });
 * ```
 */
export function mobilenetV1(opts: MobileNetOptions): tf.LayersModel {
  checkOptions("mobilenet_v1", opts, 3);
  const m = opts.depthMultiplier ?? 1;
  if (!Number.isInteger(m) || m < 1) {
    throw new ModelOptionsError(`mobilenet_v1: depthMultiplier must be an integer >= 1, got ${m}`);
  }
  const alpha = opts.width ?? 1;
  const conventions = { ...KERAS, bnAxis: -1 };
  return buildWith("mobilenet_v1", opts, conventions, (kit) => {
    const ch = (c: number) => kit.channels(Math.max(1, Math.trunc(c * alpha)));
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = kit.conv(input, "conv1", ch(32), 3, { stride: 2, bias: false });
    x = activation(kit.bn(x, "conv1_bn"), "relu6", "conv1_relu");
    V1_BLOCKS.forEach(([f, s], i) => x = dwBlock(kit, x, ch(f), s, i + 1, m));
    const c = x.shape[3] as number;
    x = tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" }).apply(x) as ST;
    x = tf.layers.reshape({ name: "reshape_1", targetShape: [1, 1, c] }).apply(x) as ST;
    x = tf.layers.dropout({ name: "dropout", rate: 1e-3 }).apply(x) as ST;
    x = kit.conv(x, "conv_preds", opts.numClasses, 1, { bias: true });
    const logits = tf.layers.reshape({ name: "reshape_2", targetShape: [opts.numClasses] })
      .apply(x) as ST;
    return tf.model({ inputs: input, outputs: logits, name: "mobilenet_v1" });
  });
}

/** Keras' `_inverted_res_block` of MobileNet V2. */
function invertedResidual(
  kit: LayerKit,
  input: ST,
  filters: number,
  stride: number,
  expansion: number,
  id: number,
): ST {
  const inCh = input.shape[3] as number;
  const out = kit.channels(makeDivisible(filters));
  const p = id ? `block_${id}_` : "expanded_conv_";
  let x = input;
  if (id) {
    x = kit.conv(x, `${p}expand`, kit.channels(expansion * inCh), 1, { bias: false });
    x = activation(kit.bn(x, `${p}expand_BN`), "relu6", `${p}expand_relu`);
  }
  if (stride === 2) x = zeroPad(x, `${p}pad`, correctPad(x, 3));
  const padding = stride === 1 ? "same" : "valid";
  x = kit.depthwise(x, `${p}depthwise`, 3, { stride, padding, bias: false });
  x = activation(kit.bn(x, `${p}depthwise_BN`), "relu6", `${p}depthwise_relu`);
  x = kit.bn(kit.conv(x, `${p}project`, out, 1, { bias: false }), `${p}project_BN`);
  if (inCh === out && stride === 1) {
    x = tf.layers.add({ name: `${p}add` }).apply([input, x]) as ST;
  }
  return x;
}

/** [filters, stride, expansion] of MobileNet V2's 17 blocks. */
const V2_BLOCKS: [number, number, number][] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/**
 * MobileNet V2 (keras.applications.MobileNetV2): conv 3x3/2, 17 inverted
 * residual blocks (expand 1x1, depthwise 3x3, project 1x1, residual Add
 * where shapes match; ReLU6), conv 1x1 to 1280, global average pooling,
 * Dense. 3,538,984 weights (Keras' count) at width 1 for 1000 classes.
 * @example
 * ```ts
 * const m = mobilenetV2({ inputShape: [96, 96, 3], numClasses: 10, width: 0.35 });
 * ```
 */
export function mobilenetV2(opts: ModelOptions): tf.LayersModel {
  checkOptions("mobilenet_v2", opts, 3);
  const alpha = opts.width ?? 1;
  return buildWith("mobilenet_v2", opts, MOBILENET, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    const first = kit.channels(makeDivisible(32 * alpha));
    let x = kit.conv(input, "Conv1", first, 3, { stride: 2, bias: false });
    x = activation(kit.bn(x, "bn_Conv1"), "relu6", "Conv1_relu");
    V2_BLOCKS.forEach(([f, s, t], id) => {
      x = invertedResidual(kit, x, Math.trunc(f * alpha), s, t, id);
    });
    const last = kit.channels(alpha > 1 ? makeDivisible(1280 * alpha) : 1280);
    x = kit.bn(kit.conv(x, "Conv_1", last, 1, { bias: false }), "Conv_1_bn");
    x = activation(x, "relu6", "out_relu");
    const logits = classifierTop(kit, x, opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name: "mobilenet_v2" });
  });
}
