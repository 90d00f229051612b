/**
 * DenseNet-121 (Huang et al. 2017) as keras.applications.DenseNet121 builds
 * it: 4 dense blocks (6, 12, 24, 16 layers of BN-ReLU-conv1x1(4k)-BN-ReLU-
 * conv3x3(k), each concatenated onto its input; growth k = 32), transitions
 * (BN-ReLU-conv1x1 halving the channels, 2x2 average pooling), BN on axis 3
 * with epsilon 1.001e-5, convs without bias. Keras' `conv1/conv` names are
 * written `conv1_conv`. `width` scales the stem and the growth rate. The top
 * is logits.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import { activation, classifierTop, zeroPad } from "./keras_blocks.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

const bnRelu = (kit: LayerKit, x: ST, name: string) =>
  activation(kit.bn(x, `${name}_bn`, { epsilon: 1.001e-5 }), "relu", `${name}_relu`);

/** Keras' `conv_block`: x concatenated with BN-ReLU-1x1(4k)-BN-ReLU-3x3(k) of x. */
function convBlock(kit: LayerKit, x: ST, growth: number, name: string): ST {
  let y = kit.conv(bnRelu(kit, x, `${name}_0`), `${name}_1_conv`, 4 * growth, 1, { bias: false });
  y = kit.conv(bnRelu(kit, y, `${name}_1`), `${name}_2_conv`, growth, 3, { bias: false });
  return tf.layers.concatenate({ name: `${name}_concat`, axis: 3 }).apply([x, y]) as ST;
}

/** Keras' `transition_block`: BN-ReLU-1x1 to half the channels, 2x2 average pooling. */
function transition(kit: LayerKit, x: ST, name: string): ST {
  const half = Math.max(1, Math.trunc((x.shape[3] as number) * 0.5));
  const y = kit.conv(bnRelu(kit, x, name), `${name}_conv`, half, 1, { bias: false });
  return tf.layers.averagePooling2d({ name: `${name}_pool`, poolSize: 2, strides: 2 }).apply(
    y,
  ) as ST;
}

/**
 * DenseNet-121 (keras.applications.DenseNet121): 8,062,504 weights at width 1
 * for 1000 classes, as Keras counts.
 * @example
 * ```ts
 * const m = densenet121({ inputShape: [224, 224, 3], numClasses: 1000 });
 * ```
 */
export function densenet121(opts: ModelOptions): tf.LayersModel {
  checkOptions("densenet121", opts, 3);
  return buildWith("densenet121", opts, KERAS, (kit) => {
    const growth = kit.ch(32);
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = kit.conv(zeroPad(input, "conv1_pad", 3), "conv1_conv", kit.ch(64), 7, {
      stride: 2,
      padding: "valid",
      bias: false,
    });
    x = bnRelu(kit, x, "conv1");
    x = tf.layers.maxPooling2d({ name: "pool1", poolSize: 3, strides: 2 })
      .apply(zeroPad(x, "pool1_pad", 1)) as ST;
    [6, 12, 24, 16].forEach((blocks, i) => {
      for (let b = 1; b <= blocks; b++) x = convBlock(kit, x, growth, `conv${i + 2}_block${b}`);
      if (i < 3) x = transition(kit, x, `pool${i + 2}`);
    });
    x = activation(kit.bn(x, "bn", { epsilon: 1.001e-5 }), "relu", "relu");
    const logits = classifierTop(kit, x, opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name: "densenet121" });
  });
}
