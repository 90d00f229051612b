/**
 * LeNet-5 (ReLU variant): conv 6@5x5 -> ReLU -> max-pool -> conv 16@5x5 -> ReLU
 * -> max-pool -> flatten -> Dense 120 -> ReLU -> Dense 84 -> ReLU -> Dense n.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, TORCH } from "./layer_kit.ts";
import { checkOptions, type ModelOptions, ModelOptionsError } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Options of {@link lenet5}. */
export interface LeNetOptions extends ModelOptions {
  /**
   * Padding of the first conv. Default "same" for inputs smaller than 32x32
   * (the classic 28x28 MNIST LeNet-5 pads them to 32), "valid" otherwise.
   */
  firstPadding?: "same" | "valid";
}

/**
 * LeNet-5 with separate ReLU layers (names conv1, relu1, pool1, conv2, relu2,
 * pool2, flatten, fc1, relu3, fc2, relu4, fc3); 61,706 parameters for
 * 28x28x1 and 10 classes.
 * @example
 * ```ts
 * const m = lenet5({ inputShape: [28, 28, 1], numClasses: 10 });
 * ```
 */
export function lenet5(opts: LeNetOptions): tf.LayersModel {
  checkOptions("lenet5", opts, 3);
  const [h, w] = opts.inputShape;
  const padding = opts.firstPadding ?? (Math.min(h, w) < 32 ? "same" : "valid");
  const side = Math.floor(
    (Math.floor((Math.min(h, w) - (padding === "same" ? 0 : 4)) / 2) - 4) / 2,
  );
  if (side < 1) {
    throw new ModelOptionsError(
      `lenet5: inputShape ${JSON.stringify(opts.inputShape)} is too small for ` +
        `firstPadding "${padding}" (needs sides >= ${padding === "same" ? 12 : 16})`,
    );
  }
  return buildWith("lenet5", opts, TORCH, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    const pool = (x: ST, name: string) =>
      tf.layers.maxPooling2d({ name, poolSize: 2, strides: 2 }).apply(x) as ST;
    let x = kit.conv(input, "conv1", kit.ch(6), 5, { bias: true, padding });
    x = pool(kit.relu(x, "relu1"), "pool1");
    x = kit.conv(x, "conv2", kit.ch(16), 5, { bias: true, padding: "valid" });
    x = pool(kit.relu(x, "relu2"), "pool2");
    x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
    x = kit.relu(kit.dense(x, "fc1", kit.ch(120)), "relu3");
    x = kit.relu(kit.dense(x, "fc2", kit.ch(84)), "relu4");
    const logits = kit.dense(x, "fc3", opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name: "lenet5" });
  });
}
