/**
 * Xception (Chollet 2017) as keras.applications.Xception builds it: entry
 * flow (two convs, three separable-conv blocks with strided 1x1 projection
 * shortcuts), middle flow (8 residual blocks of three ReLU-SeparableConv-BN),
 * exit flow, global average pooling. Keras leaves the shortcut convs and
 * the Adds unnamed; here they are `block{n}_res_conv`, `_res_bn`, `_add`.
 * `width` scales every channel count. The top is logits.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import { activation, classifierTop } from "./keras_blocks.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

const sepBn = (kit: LayerKit, x: ST, name: string, filters: number) =>
  kit.bn(kit.separable(x, name, kit.ch(filters), 3, { bias: false }), `${name}_bn`);

const add = (name: string, xs: ST[]) => tf.layers.add({ name }).apply(xs) as ST;

/** An entry / exit flow block: [ReLU] sep-BN, ReLU, sep-BN, max-pool 3x3/2, + 1x1/2 projection. */
function downBlock(
  kit: LayerKit,
  x: ST,
  n: number,
  [f1, f2]: [number, number],
  relu1: boolean,
): ST {
  const p = `block${n}`;
  const res = kit.bn(
    kit.conv(x, `${p}_res_conv`, kit.ch(f2), 1, { stride: 2, bias: false }),
    `${p}_res_bn`,
  );
  let y = relu1 ? activation(x, "relu", `${p}_sepconv1_act`) : x;
  y = activation(sepBn(kit, y, `${p}_sepconv1`, f1), "relu", `${p}_sepconv2_act`);
  y = sepBn(kit, y, `${p}_sepconv2`, f2);
  y = tf.layers.maxPooling2d({ name: `${p}_pool`, poolSize: 3, strides: 2, padding: "same" })
    .apply(y) as ST;
  return add(`${p}_add`, [y, res]);
}

/**
 * Xception (keras.applications.Xception): 22,910,480 weights at width 1 for
 * 1000 classes, as Keras counts. Inputs need sides >= 71.
 * @example
 * ```ts
 * const m = xception({ inputShape: [299, 299, 3], numClasses: 1000 });
 * ```
 */
export function xception(opts: ModelOptions): tf.LayersModel {
  checkOptions("xception", opts, 3);
  return buildWith("xception", opts, { ...KERAS, bnAxis: -1 }, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    const convBn = (t: ST, name: string, f: number, stride: number) =>
      kit.bn(
        kit.conv(t, name, kit.ch(f), 3, { stride, padding: "valid", bias: false }),
        `${name}_bn`,
      );
    let x = activation(convBn(input, "block1_conv1", 32, 2), "relu", "block1_conv1_act");
    x = activation(convBn(x, "block1_conv2", 64, 1), "relu", "block1_conv2_act");
    x = downBlock(kit, x, 2, [128, 128], false);
    x = downBlock(kit, x, 3, [256, 256], true);
    x = downBlock(kit, x, 4, [728, 728], true);
    for (let n = 5; n <= 12; n++) {
      const p = `block${n}`;
      let y = x;
      for (const i of [1, 2, 3]) {
        y = sepBn(kit, activation(y, "relu", `${p}_sepconv${i}_act`), `${p}_sepconv${i}`, 728);
      }
      x = add(`${p}_add`, [y, x]);
    }
    x = downBlock(kit, x, 13, [728, 1024], true);
    x = activation(sepBn(kit, x, "block14_sepconv1", 1536), "relu", "block14_sepconv1_act");
    x = activation(sepBn(kit, x, "block14_sepconv2", 2048), "relu", "block14_sepconv2_act");
    return tf.model({
      inputs: input,
      outputs: classifierTop(kit, x, opts.numClasses),
      name: "xception",
    });
  });
}
