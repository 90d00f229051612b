/**
 * The standard forms of Shears' custom layers (MaskedReLU, ChannelPadShortcut,
 * SigmoidBatchNorm, GradientPrunedConv2D) compute what the layers compute,
 * the export keeps a layer with a shipped module and names a layer it cannot
 * export.
 */
import {
  ChannelPadShortcut,
  ExportLayerError,
  initBackend,
  isUserFacing,
  MaskedReLU,
  maxAbsDiff,
  standardModel,
  tf,
} from "@shears/core";
import { SigmoidBatchNorm } from "@shears/rni";
import { GradientPrunedConv2D } from "@shears/magnitude";
import { deepEqual, equal, ok, rejects } from "./assert.ts";
import { seeded } from "./prune_check.ts";
import { modelWith, Sine, SINE_SOURCE, Unshippable } from "./export_fixtures.ts";

await initBackend("cpu", { quiet: true });

/** A model input -> `layer` for [h, w, c] inputs. */
function single(layer: tf.layers.Layer, shape: number[]): tf.LayersModel {
  const x = tf.input({ shape });
  return tf.model({ inputs: x, outputs: layer.apply(x) as tf.SymbolicTensor });
}

/** Layer classes of a model, input excluded. */
const classes = (m: tf.LayersModel) => m.layers.slice(1).map((l) => l.getClassName());

/** Max |standard(x) - model(x)| on seeded N(0, 1) inputs, and the standard model's classes. */
async function compare(model: tf.LayersModel, n = 3) {
  const before = tf.memory().numTensors;
  const std = await standardModel(model);
  const shape = (model.inputs[0].shape as number[]).slice(1);
  const x = tf.randomNormal([n, ...shape], 0, 1, "float32", 7);
  const [want, got] = [model.predict(x) as tf.Tensor, std.model.predict(x) as tf.Tensor];
  const diff = maxAbsDiff(await got.data(), await want.data());
  const result = { diff, classes: classes(std.model), rewritten: std.rewritten, std };
  tf.dispose([x, want, got]);
  std.model.dispose();
  equal(tf.memory().numTensors, before, "tensors leaked");
  return result;
}

Deno.test("MaskedReLU: all-zero mask -> removed, all-one -> ReLU, partial -> PReLU, bit-exact", async () => {
  const cases = [["zero", 0, []], ["one", 1, ["ReLU"]], ["partial", 0.5, ["PReLU"]]] as const;
  for (const [what, p, want] of cases) {
    const layer = new MaskedReLU({ name: `relu_${what}` });
    const model = single(layer, [3, 4, 2]);
    const bits = Float32Array.from(
      { length: 24 },
      (_, i) => (p === 0.5 ? (i * 7) % 3 === 0 : p) ? 1 : 0,
    );
    const m = tf.tensor(bits, [3, 4, 2]);
    layer.setMask(m);
    m.dispose();
    const r = await compare(model);
    deepEqual(r.classes, [...want], what);
    equal(r.diff, 0, `${what}: outputs differ`);
    equal(r.rewritten[0].to, want[0] ?? "removed");
    model.dispose();
  }
});

Deno.test("ChannelPadShortcut -> a 1x1 strided Conv2D embedding the channels (or removed), exact", async () => {
  for (
    const [stride, padBefore, padAfter, hw] of [[2, 2, 3, 5], [2, 4, 4, 8], [3, 0, 1, 7], [
      1,
      1,
      0,
      4,
    ]]
  ) {
    const model = single(new ChannelPadShortcut({ stride, padBefore, padAfter }), [hw, hw, 3]);
    const r = await compare(model);
    deepEqual(r.classes, ["Conv2D"]);
    equal(r.diff, 0, `stride ${stride}, pads ${padBefore}/${padAfter} on ${hw}x${hw}`);
    model.dispose();
  }
  const identity = single(new ChannelPadShortcut({ stride: 1 }), [4, 4, 3]);
  const r = await compare(identity);
  deepEqual(r.classes, [], "stride 1 without padding is the identity: removed");
  equal(r.diff, 0);
  identity.dispose();
});

Deno.test("SigmoidBatchNorm -> BatchNormalization with gamma sigmoid(theta), beta 0 (folded after a conv)", async () => {
  for (const conv of [false, true]) {
    const x = tf.input({ shape: [5, 5, 3] });
    const h = conv
      ? tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: seeded("c") }).apply(x)
      : x;
    const bn = new SigmoidBatchNorm({ seed: 3 });
    const model = tf.model({ inputs: x, outputs: bn.apply(h) as tf.SymbolicTensor });
    const c = bn.theta.shape[0]!;
    const [, mean, variance] = bn.weights;
    mean.write(tf.tensor1d(Array.from({ length: c }, (_, i) => 0.3 * i - 0.4)));
    variance.write(tf.tensor1d(Array.from({ length: c }, (_, i) => 0.5 + 0.25 * i)));
    const r = await compare(model);
    deepEqual(r.classes, conv ? ["Conv2D"] : ["BatchNormalization"]);
    ok(r.diff < 1e-6, `conv ${conv}: diff ${r.diff}`);
    model.dispose();
  }
});

Deno.test("GradientPrunedConv2D -> the Conv2D it is in the forward pass", async () => {
  const conv = new GradientPrunedConv2D({
    filters: 3,
    kernelSize: 3,
    padding: "same",
    threshold: 0.05,
    pBern: 1,
    seed: 1,
    kernelInitializer: "glorotNormal",
    biasInitializer: "glorotNormal",
  });
  const model = single(conv as unknown as tf.layers.Layer, [6, 6, 2]);
  const r = await compare(model);
  deepEqual(r.classes, ["Conv2D"]);
  equal(r.diff, 0);
  model.dispose();
});

Deno.test("a layer with a shipped module stays, with its source; one with neither is a one-line error", async () => {
  const withSine = modelWith(new Sine({ name: "sine" }));
  const std = await standardModel(withSine);
  ok(classes(std.model).includes("Sine"));
  deepEqual([...std.modules.keys()], ["Sine"]);
  equal(std.modules.get("Sine"), SINE_SOURCE);
  std.model.dispose();
  withSine.dispose();

  const bad = modelWith(new Unshippable({ name: "plus_one" }));
  const before = tf.memory().numTensors;
  await rejects(() => standardModel(bad), (e: Error) => {
    ok(e instanceof ExportLayerError && isUserFacing(e));
    equal(e.message.split("\n").length, 1);
    ok(e.message.startsWith("layer 'plus_one' (Unshippable) has no standard tfjs form"), e.message);
    return true;
  });
  equal(tf.memory().numTensors, before, "tensors leaked");
  bad.dispose();
});
