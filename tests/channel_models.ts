/**
 * Tiny hand-built functional models for the channel graph and surgery tests:
 * each exercises one way channels couple (residual adds, concat, flatten,
 * depthwise, option-A padding, masks).
 * @module
 */
import { ChannelPadShortcut, MaskedReLU, Rng, tf } from "@shears/core";

type ST = tf.SymbolicTensor;

const conv = (x: ST, name: string, filters: number, o: { k?: number; s?: number } = {}) =>
  tf.layers.conv2d({
    name,
    filters,
    kernelSize: o.k ?? 3,
    strides: o.s ?? 1,
    padding: "same",
  }).apply(x) as ST;
const bn = (x: ST, name: string) => tf.layers.batchNormalization({ name, axis: -1 }).apply(x) as ST;
const relu = (x: ST, name: string) => tf.layers.reLU({ name }).apply(x) as ST;
const cbr = (x: ST, p: string, f: number, s = 1) =>
  relu(bn(conv(x, `${p}_conv`, f, { s }), `${p}_bn`), `${p}_relu`);
const dense = (x: ST, name: string, units: number) =>
  tf.layers.dense({ name, units }).apply(x) as ST;

/** input(8,8,3) -> c1(4)-bn-relu -> c2(6)-bn-relu -> GAP -> fc(5). */
export function chainModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: "input" });
  const x = cbr(cbr(input, "c1", 4), "c2", 6);
  const y = dense(tf.layers.globalAveragePooling2d({ name: "gap" }).apply(x) as ST, "fc", 5);
  return tf.model({ inputs: input, outputs: y });
}

/**
 * ResNet-like: stem(4); block a (identity shortcut, 4); block b (projection
 * shortcut, 4 -> 6, stride 2); block c (option-A ChannelPadShortcut 6 -> 10:
 * pads 2 before, 2 after, stride 2); GAP; fc(3).
 */
export function resnetLike(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: "input" });
  const stem = cbr(input, "stem", 4);
  const a = relu(
    tf.layers.add({ name: "a_add" }).apply([
      bn(conv(cbr(stem, "a1", 4), "a2_conv", 4), "a2_bn"),
      stem,
    ]) as ST,
    "a_relu",
  );
  const b = relu(
    tf.layers.add({ name: "b_add" }).apply([
      bn(conv(cbr(a, "b1", 6, 2), "b2_conv", 6), "b2_bn"),
      bn(conv(a, "b_short_conv", 6, { k: 1, s: 2 }), "b_short_bn"),
    ]) as ST,
    "b_relu",
  );
  const pad = new ChannelPadShortcut({ name: "c_short", stride: 2, padBefore: 2, padAfter: 2 });
  const c = relu(
    tf.layers.add({ name: "c_add" }).apply([
      bn(conv(cbr(b, "c1", 10, 2), "c2_conv", 10), "c2_bn"),
      pad.apply(b) as ST,
    ]) as ST,
    "c_relu",
  );
  const y = dense(tf.layers.globalAveragePooling2d({ name: "gap" }).apply(c) as ST, "fc", 3);
  return tf.model({ inputs: input, outputs: y });
}

/** VGG-like: c1(4) c2(5) pool c3(6) c4(7) pool -> flatten (2x2 positions) -> fc1(8) -> fc(3). */
export function vggLike(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: "input" });
  const pool = (x: ST, name: string) =>
    tf.layers.maxPooling2d({ name, poolSize: 2 }).apply(x) as ST;
  let x = pool(cbr(cbr(input, "c1", 4), "c2", 5), "pool1");
  x = pool(cbr(cbr(x, "c3", 6), "c4", 7), "pool2");
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
  x = relu(dense(x, "fc1", 8), "fc1_relu");
  return tf.model({ inputs: input, outputs: dense(x, "fc", 3) });
}

/** LeNet-like: conv(4, 5x5 valid) relu maxpool conv(6) relu avgpool flatten fc1(7) relu dropout fc(3). */
export function lenetLike(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 1], name: "input" });
  const c = (x: ST, name: string, f: number) =>
    tf.layers.conv2d({ name, filters: f, kernelSize: 5, padding: "valid" }).apply(x) as ST;
  let x = tf.layers.maxPooling2d({ name: "pool1", poolSize: 2 })
    .apply(relu(c(input, "conv1", 4), "relu1")) as ST; // 4x4x4
  x = tf.layers.zeroPadding2d({ name: "pad2", padding: 2 }).apply(x) as ST; // 8x8x4
  x = tf.layers.averagePooling2d({ name: "pool2", poolSize: 2 })
    .apply(relu(c(x, "conv2", 6), "relu2")) as ST; // 2x2x6
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
  x = relu(dense(x, "fc1", 7), "relu3");
  x = tf.layers.dropout({ name: "drop", rate: 0.5 }).apply(x) as ST;
  return tf.model({ inputs: input, outputs: dense(x, "fc", 3) });
}

/**
 * Branches and channel-wise layers: a(4) and b(3) concatenated (7) -> masked
 * ReLU -> depthwise 3x3 -> bn -> relu -> p(5) -> flatten (4x4) -> fc(3).
 */
export function concatDepthwise(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2], name: "input" });
  const cat = tf.layers.concatenate({ name: "cat" }).apply([
    cbr(input, "a", 4),
    cbr(input, "b", 3),
  ]) as ST;
  let x = new MaskedReLU({ name: "mrelu" }).apply(cat) as ST;
  x = tf.layers.depthwiseConv2d({ name: "dw", kernelSize: 3, padding: "same" }).apply(x) as ST;
  x = cbr(relu(bn(x, "dw_bn"), "dw_relu"), "p", 5);
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
  return tf.model({ inputs: input, outputs: dense(x, "fc", 3) });
}

/**
 * Gives every weight random values (variances in [0.5, 1.5], MaskedReLU masks
 * random 0/1) so BN and masks are not identities in the tests.
 */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const w of model.weights) {
    const shape = w.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const name = w.originalName;
    const values = Float32Array.from(
      { length: n },
      () =>
        name.endsWith("variance")
          ? 0.5 + rng.next()
          : name.endsWith("mask")
          ? (rng.next() < 0.5 ? 0 : 1)
          : 0.5 * rng.normal(),
    );
    const t = tf.tensor(values, shape);
    w.write(t);
    t.dispose();
  }
}
