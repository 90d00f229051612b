/**
 * Tiny hand-built models and a run context for the magnitude plugin's tests.
 * @module
 */
import { type RunContext, tf } from "@shears/core";
import magnitude from "@shears/magnitude";
import { testContext } from "./context.ts";

type Sym = tf.SymbolicTensor;
const init = (seed: number) => tf.initializers.glorotNormal({ seed });

/** A "same"-padded conv whose kernel and bias initializers take the next seeds of `seeds`. */
function seededConv(
  seeds: () => number,
  name: string,
  filters: number,
  k: number,
  strides: number,
  useBias: boolean,
): tf.layers.Layer {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize: k,
    strides,
    padding: "same",
    useBias,
    kernelInitializer: init(seeds()),
    biasInitializer: tf.initializers.randomNormal({ seed: seeds() }),
  });
}

/**
 * A residual net with every kind of layer the pruner must tell apart: a stem
 * conv (with bias), a 3x3 conv, a 1x1 shortcut conv, BN, an add, global
 * pooling and a Dense head. Input 6x6x2, 3 classes.
 */
export function tinyResNet(seed = 1): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2], name: "input" });
  const conv = (name: string, filters: number, k: number, strides = 1, useBias = false) =>
    seededConv(() => seed++, name, filters, k, strides, useBias);
  const stem = conv("conv1", 4, 3, 1, true).apply(input) as Sym;
  const a = tf.layers.reLU({ name: "relu1" }).apply(stem) as Sym;
  let h = conv("block_conv1", 6, 3, 2).apply(a) as Sym;
  h = tf.layers.batchNormalization({ name: "block_bn1" }).apply(h) as Sym;
  const sc = conv("block_shortcut_conv", 6, 1, 2).apply(a) as Sym;
  h = tf.layers.add({ name: "block_add" }).apply([h, sc]) as Sym;
  h = tf.layers.reLU({ name: "block_relu" }).apply(h) as Sym;
  h = tf.layers.globalAveragePooling2d({ name: "avgpool" }).apply(h) as Sym;
  const out = tf.layers.dense({ name: "fc", units: 3, kernelInitializer: init(seed++) })
    .apply(h) as Sym;
  return tf.model({ inputs: input, outputs: out, name: "tiny_resnet" });
}

/** Conv kernel names of {@link tinyResNet}. */
export const TINY_CONVS = ["conv1/kernel", "block_conv1/kernel", "block_shortcut_conv/kernel"];

/**
 * A purely linear conv net (3x3 stride-2 conv with bias, 3x3 conv, 1x1 conv;
 * the first `depth` of them):
 * with a linear loss its input gradient does not depend on the forward
 * activations, so it equals the pruned model's exactly.
 */
export function linearConvNet(seed = 7, depth = 3): tf.LayersModel {
  const input = tf.input({ shape: [7, 7, 3], name: "input" });
  let h = input as Sym;
  const specs: [string, number, number, number, boolean][] = [
    ["c1", 5, 3, 2, true],
    ["c2", 4, 3, 1, false],
    ["c3", 3, 1, 1, true],
  ];
  for (const [name, filters, k, strides, useBias] of specs.slice(0, depth)) {
    h = seededConv(() => seed++, name, filters, k, strides, useBias).apply(h) as Sym;
  }
  return tf.model({ inputs: input, outputs: h, name: "linear_convs" });
}

/** A fresh run context around `model`, seeded, with the magnitude plugin registered. */
export function magnitudeContext(model: tf.LayersModel, seed = 0): RunContext {
  return testContext({ model, seed, plugins: [magnitude] });
}

/** A copy of a weight's values, by name. */
export function weightValues(model: tf.LayersModel, name: string): Float32Array {
  const w = model.weights.find((v) => v.originalName === name);
  if (!w) throw new Error(`no weight ${name}`);
  return Float32Array.from(w.read().dataSync() as Float32Array);
}
