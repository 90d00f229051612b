/**
 * ResNet-50 (He et al. 2016) as keras.applications.ResNet50 builds it
 * (bottleneck blocks, the stride on the first 1x1 conv, convs with bias, BN
 * on axis 3 with epsilon 1.001e-5), and SE-ResNet-50 (Hu et al. 2018): the
 * same with squeeze-and-excitation (reduction 16, Dense layers on the
 * [1, 1, C] squeeze) on each block's residual branch before the Add.
 * `width` scales every channel count. The top is logits.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import { activation, classifierTop, squeezeExcite, zeroPad } from "./keras_blocks.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Keras' `block1`: 1x1 (stride) -> 3x3 -> 1x1 (4x), projection shortcut if asked, Add, ReLU. */
function bottleneck(
  kit: LayerKit,
  x: ST,
  filters: number,
  stride: number,
  projection: boolean,
  name: string,
  se: boolean,
): ST {
  const bn = (t: ST, n: string) => kit.bn(t, n, { epsilon: 1.001e-5 });
  let shortcut = x;
  if (projection) {
    shortcut = bn(kit.conv(x, `${name}_0_conv`, 4 * filters, 1, { stride }), `${name}_0_bn`);
  }
  let y = bn(kit.conv(x, `${name}_1_conv`, filters, 1, { stride }), `${name}_1_bn`);
  y = activation(y, "relu", `${name}_1_relu`);
  y = bn(kit.conv(y, `${name}_2_conv`, filters, 3), `${name}_2_bn`);
  y = activation(y, "relu", `${name}_2_relu`);
  y = bn(kit.conv(y, `${name}_3_conv`, 4 * filters, 1), `${name}_3_bn`);
  if (se) {
    const squeeze = Math.max(1, Math.floor((4 * filters) / 16));
    y = squeezeExcite(kit, y, `${name}_se_`, {
      squeeze,
      reduce: "relu",
      expand: "sigmoid",
      layers: "dense",
    });
  }
  const sum = tf.layers.add({ name: `${name}_add` }).apply([shortcut, y]) as ST;
  return activation(sum, "relu", `${name}_out`);
}

function buildResNet50(name: string, opts: ModelOptions, se: boolean): tf.LayersModel {
  checkOptions(name, opts, 3);
  return buildWith(name, opts, KERAS, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = kit.conv(zeroPad(input, "conv1_pad", 3), "conv1_conv", kit.ch(64), 7, {
      stride: 2,
      padding: "valid",
    });
    x = activation(kit.bn(x, "conv1_bn", { epsilon: 1.001e-5 }), "relu", "conv1_relu");
    x = tf.layers.maxPooling2d({ name: "pool1_pool", poolSize: 3, strides: 2 })
      .apply(zeroPad(x, "pool1_pad", 1)) as ST;
    const stages: [number, number, number][] = [[64, 3, 1], [128, 4, 2], [256, 6, 2], [512, 3, 2]];
    stages.forEach(([filters, blocks, stride], s) => {
      for (let b = 1; b <= blocks; b++) {
        const n = `conv${s + 2}_block${b}`;
        x = bottleneck(kit, x, kit.ch(filters), b === 1 ? stride : 1, b === 1, n, se);
      }
    });
    return tf.model({ inputs: input, outputs: classifierTop(kit, x, opts.numClasses), name });
  });
}

/**
 * ResNet-50 (keras.applications.ResNet50): 25,636,712 weights at width 1 for
 * 1000 classes, as Keras counts (BN moving statistics included).
 * @example
 * ```ts
 * const m = resnet50({ inputShape: [224, 224, 3], numClasses: 1000 });
 * ```
 */
export function resnet50(opts: ModelOptions): tf.LayersModel {
  return buildResNet50("resnet50", opts, false);
}

/**
 * SE-ResNet-50: {@link resnet50} with squeeze-and-excitation on every block
 * (`conv{s}_block{b}_se_squeeze` ... `_se_excite`): global average pooling,
 * Reshape to [1, 1, C], Dense C/16 + ReLU, Dense C + sigmoid, Multiply.
 * @example
 * ```ts
 * const m = seResnet50({ inputShape: [64, 64, 3], numClasses: 10, width: 0.25 });
 * ```
 */
export function seResnet50(opts: ModelOptions): tf.LayersModel {
  return buildResNet50("se_resnet50", opts, true);
}
