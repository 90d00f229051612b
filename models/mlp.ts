/**
 * A multilayer perceptron: flatten -> (Dense -> ReLU) per hidden layer -> Dense n.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, TORCH } from "./layer_kit.ts";
import { checkOptions, type ModelOptions, ModelOptionsError } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Options of {@link mlp}. */
export interface MlpOptions extends ModelOptions {
  /** Hidden layer sizes at full width, default [256, 128]. */
  hidden?: number[];
}

/**
 * An MLP over any input shape (flattened first when its rank is > 1). Layers:
 * `flatten`, `fc1`, `relu1`, ..., `fc{k}`, `relu{k}`, `fc{k+1}` (logits).
 * @example
 * ```ts
 * const m = mlp({ inputShape: [28, 28, 1], numClasses: 10, hidden: [300, 100] });
 * ```
 */
export function mlp(opts: MlpOptions): tf.LayersModel {
  checkOptions("mlp", opts);
  const hidden = opts.hidden ?? [256, 128];
  if (!hidden.every((u) => Number.isInteger(u) && u > 0)) {
    throw new ModelOptionsError(
      `mlp: hidden must be positive integers, got ${JSON.stringify(hidden)}`,
    );
  }
  return buildWith("mlp", opts, TORCH, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = input;
    if (opts.inputShape.length > 1) x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
    hidden.forEach((u, i) => {
      x = kit.relu(kit.dense(x, `fc${i + 1}`, kit.ch(u)), `relu${i + 1}`);
    });
    const logits = kit.dense(x, `fc${hidden.length + 1}`, opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name: "mlp" });
  });
}
