/**
 * The two benchmark networks (mirrored exactly in peers/torch_bench.py):
 * a VGG-style net (conv-BN-ReLU 32,32,M,64,64,M,128,128,M, global average
 * pool, dense 10) and a small CIFAR ResNet (stem 16, one basic block per
 * stage at 16/32/64 channels, stride-2 blocks with 1x1 projection shortcuts).
 * Inputs 32x32x3, 10 classes.
 * @module
 */
import { type NamedVariable, type Optimizer, tf } from "@shears/core";

/** A benchmark net's name. */
export type NetName = "vgg" | "resnet";

function convBnRelu(x: tf.SymbolicTensor, filters: number, strides = 1): tf.SymbolicTensor {
  const c = tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: "same", useBias: false })
    .apply(x) as tf.SymbolicTensor;
  const b = tf.layers.batchNormalization().apply(c) as tf.SymbolicTensor;
  return tf.layers.reLU().apply(b) as tf.SymbolicTensor;
}

function head(x: tf.SymbolicTensor, input: tf.SymbolicTensor): tf.LayersModel {
  const p = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10 }).apply(p) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** The VGG-style net. */
export function vggNet(): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3] });
  let x = input;
  for (const widths of [[32, 32], [64, 64], [128, 128]]) {
    for (const w of widths) x = convBnRelu(x, w);
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  }
  return head(x, input);
}

function basicBlock(x: tf.SymbolicTensor, filters: number, strides: number): tf.SymbolicTensor {
  const a = convBnRelu(x, filters, strides);
  const c = tf.layers.conv2d({ filters, kernelSize: 3, padding: "same", useBias: false })
    .apply(a) as tf.SymbolicTensor;
  const b = tf.layers.batchNormalization().apply(c) as tf.SymbolicTensor;
  let shortcut = x;
  if (strides !== 1 || x.shape[3] !== filters) {
    const p = tf.layers.conv2d({ filters, kernelSize: 1, strides, useBias: false })
      .apply(x) as tf.SymbolicTensor;
    shortcut = tf.layers.batchNormalization().apply(p) as tf.SymbolicTensor;
  }
  const sum = tf.layers.add().apply([b, shortcut]) as tf.SymbolicTensor;
  return tf.layers.reLU().apply(sum) as tf.SymbolicTensor;
}

/** The small ResNet. */
export function resNet(): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3] });
  let x = convBnRelu(input, 16);
  x = basicBlock(x, 16, 1);
  x = basicBlock(x, 32, 2);
  x = basicBlock(x, 64, 2);
  return head(x, input);
}

/** Builds a benchmark net by name. */
export function buildNet(name: NetName): tf.LayersModel {
  return name === "vgg" ? vggNet() : resNet();
}

/** Batch size of every bench measurement. */
export const BATCH = 64;

/**
 * The seeded batch every measurement uses: `batch` (default BATCH) random
 * 32x32x3 images and one-hot labels.
 */
export function benchBatch(batch = BATCH): { x: tf.Tensor4D; labels: tf.Tensor2D } {
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = tf.tidy(() =>
    tf.oneHot(tf.randomUniform([batch], 0, 10, "int32", 2) as tf.Tensor1D, 10).toFloat()
  ) as tf.Tensor2D;
  return { x, labels };
}

/**
 * What steps the weights: a tfjs optimizer (bench/backends.ts: plain SGD, as
 * the PyTorch peer), or Shears' optimizer (core/optim.ts) at a learning rate,
 * as train() steps it.
 */
export type Updater = tf.Optimizer | { shears: Optimizer; lr: number };

/**
 * The synchronous part of a training step: forward in training mode, softmax
 * cross-entropy, gradients of all trainable variables, update. On a GPU
 * backend this only records and submits the work (its duration is the host
 * cost); returns the loss tensor.
 */
export function recordTrainStep(
  model: tf.LayersModel,
  updater: Updater,
  x: tf.Tensor4D,
  labels: tf.Tensor2D,
): tf.Scalar {
  const loss = () => {
    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  };
  if (updater instanceof tf.Optimizer) return updater.minimize(loss, true)!;
  const vars: NamedVariable[] = model.trainableWeights.map((w) => ({
    name: w.originalName,
    variable: w.read() as tf.Variable,
  }));
  const { value, grads } = tf.variableGrads(loss, vars.map((v) => v.variable));
  updater.shears.step(vars, grads, updater.lr);
  tf.dispose(grads);
  return value;
}

/** One training step ({@link recordTrainStep}, then the loss read back). Returns the loss. */
export async function trainStep(
  model: tf.LayersModel,
  updater: Updater,
  x: tf.Tensor4D,
  labels: tf.Tensor2D,
): Promise<number> {
  const loss = recordTrainStep(model, updater, x, labels);
  const v = (await loss.data())[0];
  loss.dispose();
  return v;
}

/** One inference batch (training off); resolves when the logits are read back. */
export async function inferStep(model: tf.LayersModel, x: tf.Tensor4D): Promise<void> {
  const logits = model.predict(x) as tf.Tensor;
  await logits.data();
  logits.dispose();
}
