import {
  buildChannelGraph,
  type ChannelGroup,
  channelRows,
  inferenceModel,
  isKnownLayer,
  isUserFacing,
  producerKernels,
  rewireModel,
  tf,
  unitsOf,
  unknownLayers,
  UnsupportedLayerError,
} from "@shears/core";
import { buildModel } from "@shears/models";
import { allClose, deepEqual, equal, match, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { chainModel, concatDepthwise, lenetLike, resnetLike, vggLike } from "./channel_models.ts";
import { checkRemoval, maxAbsDiff, outputsOf, seeded } from "./prune_check.ts";

await useTestBackend();

const layersOf = (refs: { layer: string }[]) => [...new Set(refs.map((r) => r.layer))].sort();
const summary = (groups: ChannelGroup[]) =>
  groups.map((g) => `${g.id}:${g.size}${g.prunable ? "" : "!"}`);

Deno.test("chain: one group per conv, input and classifier not prunable", () => {
  const model = chainModel();
  const graph = buildChannelGraph(model);
  deepEqual(summary(graph.groups), ["input:3!", "c1_conv:4", "c2_conv:6", "fc:5!"]);
  match(graph.group("input").reason!, /model input 'input'/);
  match(graph.group("fc").reason!, /model output 'fc'/);
  const c1 = graph.groupOf("c1_relu");
  equal(c1.id, "c1_conv");
  deepEqual(c1.producers.map((p) => [p.layer, p.weight, p.axis]), [
    ["c1_conv", "kernel", 3],
    ["c1_conv", "bias", 0],
  ]);
  deepEqual(layersOf(c1.followers), ["c1_bn"]);
  deepEqual(c1.followers.map((f) => f.weight).sort(), [
    "beta",
    "gamma",
    "moving_mean",
    "moving_variance",
  ]);
  deepEqual(c1.consumers.map((c) => [c.layer, c.weight, c.axis, c.index]), [
    ["c2_conv", "kernel", 2, [0, 1, 2, 3]],
  ]);
  deepEqual(graph.groupOf("gap").consumers.map((c) => [c.layer, c.axis]), [["fc", 0]]);
  model.dispose();
});

Deno.test("resnet-like: residual adds couple, option-A padding joins the streams", () => {
  const model = resnetLike();
  const graph = buildChannelGraph(model);
  // input; stem stream (stem, a2); a1; b1; b+c stream (b2, b_short, c2 + 4 pads); c1; fc.
  equal(graph.groups.length, 7);
  equal(graph.groups.filter((g) => g.prunable).length, 5);
  const stem = graph.groupOf("a_add");
  equal(stem.id, "stem_conv");
  deepEqual(layersOf(stem.producers), ["a2_conv", "stem_conv"]);
  deepEqual(layersOf(stem.consumers), ["a1_conv", "b1_conv", "b_short_conv"]);
  equal(graph.groupOf("a1_relu").size, 4);
  const bc = graph.groupOf("c_add");
  equal(graph.groupOf("b_add"), bc);
  equal(bc.size, 10); // 6 channels of stage b + 4 zero-padding channels of c_short
  ok(bc.prunable);
  deepEqual(layersOf(bc.producers), ["b2_conv", "b_short_conv", "c2_conv"]);
  deepEqual(layersOf(bc.followers), ["b2_bn", "b_short_bn", "c2_bn"]);
  deepEqual(layersOf(bc.consumers), ["c1_conv", "fc"]);
  // Group channels follow b2_conv's order; c2 channel padBefore + i is b2 channel i.
  const b2 = bc.producers.find((p) => p.layer === "b2_conv" && p.weight === "kernel")!;
  const c2 = bc.producers.find((p) => p.layer === "c2_conv" && p.weight === "kernel")!;
  const pad = bc.pads[0];
  equal(pad.layer, "c_short");
  for (let j = 0; j < bc.size; j++) {
    if (b2.index[j] >= 0) {
      equal(c2.index[j], b2.index[j] + 2);
      equal(pad.index[j], -1);
    } else equal(pad.index[j], c2.index[j]);
  }
  deepEqual(pad.index.filter((c) => c >= 0).sort((a, b) => a - b), [0, 1, 8, 9]);
  model.dispose();
});

Deno.test("concat shifts indices; depthwise and masks follow; flatten expands H*W", () => {
  const model = concatDepthwise();
  const graph = buildChannelGraph(model);
  deepEqual(summary(graph.groups), ["input:2!", "a_conv:4", "b_conv:3", "p_conv:5", "fc:3!"]);
  deepEqual(graph.groupsOf("cat").map((g) => g.id), ["a_conv", "b_conv"]);
  throws(() => graph.groupOf("cat"), /spans 2 channel groups/);
  const b = graph.group("b_conv");
  deepEqual(layersOf(b.followers), ["b_bn", "dw", "dw_bn", "mrelu"]);
  const dw = b.followers.find((f) => f.weight === "depthwise_kernel")!;
  deepEqual([dw.axis, dw.index], [2, [4, 5, 6]]);
  deepEqual(b.followers.find((f) => f.weight === "mask")!.axis, 2);
  deepEqual(b.consumers.map((c) => [c.layer, c.index]), [["p_conv", [4, 5, 6]]]);
  const fc = graph.group("p_conv").consumers[0];
  deepEqual([fc.layer, fc.channels, fc.spatial], ["fc", 5, 16]);
  deepEqual(unitsOf(fc, 2), Array.from({ length: 16 }, (_, p) => p * 5 + 2));
  model.dispose();
});

Deno.test("vgg-like and lenet-like: flatten consumers and pass-through layers", () => {
  const vgg = vggLike();
  const g = buildChannelGraph(vgg);
  deepEqual(summary(g.groups), [
    "input:3!",
    "c1_conv:4",
    "c2_conv:5",
    "c3_conv:6",
    "c4_conv:7",
    "fc1:8",
    "fc:3!",
  ]);
  const fc1 = g.group("c4_conv").consumers[0];
  deepEqual([fc1.layer, fc1.axis, fc1.channels, fc1.spatial], ["fc1", 0, 7, 4]);
  deepEqual(unitsOf(fc1, 3), [3, 10, 17, 24]);
  const lenet = lenetLike();
  deepEqual(summary(buildChannelGraph(lenet).groups), [
    "input:1!",
    "conv1:4",
    "conv2:6",
    "fc1:7",
    "fc:3!",
  ]);
  vgg.dispose();
  lenet.dispose();
});

Deno.test("layers shared with another model: each model's graph follows its own wiring", () => {
  // rewireModel applies the same layers again: every layer gets a second inbound node.
  const model = concatDepthwise();
  const expected = buildChannelGraph(model).groups;
  const rewired = rewireModel(model, (_layer, _at, t) => t);
  deepEqual(["flatten", "cat"].map((n) => model.getLayer(n).inboundNodes.length), [2, 2]);
  deepEqual(buildChannelGraph(model).groups, expected);
  deepEqual(buildChannelGraph(rewired).groups, expected);
  // The same conv and flatten on a larger input: 8x8 positions in the second model, 4x4 in the first.
  const input = tf.input({ shape: [4, 4, 2], name: "input" });
  const conv = tf.layers.conv2d({ name: "conv", filters: 3, kernelSize: 1 });
  const flatten = tf.layers.flatten({ name: "flat" });
  const small = tf.model({
    inputs: input,
    outputs: flatten.apply(conv.apply(input)) as tf.SymbolicTensor,
  });
  const input8 = tf.input({ shape: [8, 8, 2], name: "input8" });
  const large = tf.model({
    inputs: input8,
    outputs: flatten.apply(conv.apply(input8)) as tf.SymbolicTensor,
  });
  const spatial = (m: tf.LayersModel) =>
    buildChannelGraph(m).group("conv").tensors.find((t) => t.layer === "flat")!.spatial;
  deepEqual([spatial(small), spatial(large)], [16, 64]);
  deepEqual(summary(buildChannelGraph(large).groups), ["input8:2!", "conv:3!"]);
  for (const m of [model, rewired, small, large]) m.dispose();
});

Deno.test("channelRows gathers each group channel's values, flatten blocks included", () => {
  const model = vggLike();
  const graph = buildChannelGraph(model);
  const before = tf.memory().numTensors;
  const ref = graph.group("c4_conv").consumers[0];
  const rows = channelRows(model, ref);
  deepEqual(rows.shape, [7, 4 * 8]);
  const kernel = model.getLayer("fc1").getWeights()[0].arraySync() as number[][];
  const expected = [0, 7, 14, 21].flatMap((p) => kernel[p + 3]);
  allClose((rows.arraySync() as number[][])[3], expected);
  const kernels = producerKernels(model, graph.group("c2_conv"));
  deepEqual(kernels.map((k) => k.shape), [[5, 3 * 3 * 4]]);
  tf.dispose([rows, ...kernels]);
  equal(tf.memory().numTensors, before);
  model.dispose();
});

// Expected group counts of the zoo models, from their architectures:
// resnet18: input + stem/stage-1 stream (conv1, layer1_*_conv2) + 8 block-internal conv1 groups
//   + 3 stream groups of stages 2-4 (block conv2s and the projection shortcut conv) + fc = 14;
//   prunable: 8 + 4 = 12.
// resnet56 (option A): the zero padding of each ChannelPadShortcut couples stage s's stream with
//   stage s+1's, so conv1 and every block conv2 form ONE stream group of 16 + 16 + 32 = 64
//   channels; + 27 block-internal conv1 groups + input + fc = 30; prunable: 28.
// vgg16_bn: input + 13 convs + classifier = 15; prunable: 13.
Deno.test("zoo: group counts of resnet18, resnet56, vgg16_bn", () => {
  const cases: [string, number[], number, number][] = [
    ["resnet18", [8, 8, 3], 14, 12],
    ["resnet56", [8, 8, 3], 30, 28],
    ["vgg16_bn", [32, 32, 3], 15, 13],
  ];
  for (const [name, inputShape, total, prunable] of cases) {
    const model = buildModel(name, { inputShape, numClasses: 10, width: 0.0625 });
    const graph = buildChannelGraph(model);
    equal(graph.groups.length, total, `${name} groups`);
    equal(graph.groups.filter((g) => g.prunable).length, prunable, `${name} prunable groups`);
    if (name === "resnet56") {
      const stream = graph.groupOf("layer3_8_add");
      deepEqual([stream.id, stream.size], ["conv1", 4]);
      equal(stream.producers.filter((p) => p.weight === "kernel").length, 1 + 27);
    }
    model.dispose();
  }
});

/** An elementwise square with no registration: the graph cannot know it is channel-wise. */
class Square extends tf.layers.Layer {
  static className = "Square";
  override call(x: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.square(Array.isArray(x) ? x[0] : x));
  }
}
tf.serialization.registerClass(Square);

Deno.test("an unknown layer: one user-facing line saying how to register it, or pinned with allowUnknown", async () => {
  const input = tf.input({ shape: [6, 6, 2], name: "input" });
  const a = tf.layers.conv2d({ name: "a", filters: 4, kernelSize: 3 }).apply(input);
  const sq = new Square({ name: "sq" }).apply(a);
  const b = tf.layers.conv2d({ name: "b", filters: 5, kernelSize: 3 }).apply(sq);
  const gap = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(b);
  const y = tf.layers.dense({ name: "fc", units: 3 }).apply(gap) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: y });
  throws(() => buildChannelGraph(model), (e: Error) => {
    ok(e instanceof UnsupportedLayerError && isUserFacing(e));
    match(e.message, /^layer 'sq' \(Square\) is not known to the channel graph: /);
    match(e.message, /registerChannelwiseLayer\("Square"\)/);
    match(e.message, /registerProducerLayer\("Square", /);
    match(e.message, /--allow_unknown \(allowUnknown\)/);
    ok(!e.message.includes("\n"));
    return true;
  });
  deepEqual(unknownLayers(model), [{ layer: "sq", className: "Square" }]);
  ok(!isKnownLayer("Square") && isKnownLayer("Conv2D") && isKnownLayer("LayerNormalization"));
  const graph = buildChannelGraph(model, { allowUnknown: true });
  deepEqual(summary(graph.groups), ["input:2!", "a:4!", "sq:4!", "b:5", "fc:3!"]);
  match(graph.group("a").reason!, /is read by Square 'sq', which the channel graph does not know/);
  match(graph.group("sq").reason!, /is made by Square 'sq'/);
  const x = tf.randomNormal([2, 6, 6, 2], 0, 1, "float32", 1);
  const { pruned } = await checkRemoval(model, x, { graph });
  deepEqual(pruned.getLayer("b").getWeights()[0].shape, [3, 3, 4, 3]);
  tf.dispose([x]);
  pruned.dispose();
  model.dispose();
});

Deno.test("a Sequential model prunes, deploys and folds like its functional twin", async () => {
  const seq = tf.sequential({
    layers: [
      tf.layers.conv2d({
        name: "c1",
        filters: 4,
        kernelSize: 3,
        inputShape: [6, 6, 2],
        kernelInitializer: seeded("c1"),
      }),
      tf.layers.batchNormalization({ name: "bn1" }),
      tf.layers.reLU({ name: "r1" }),
      tf.layers.flatten({ name: "flat" }),
      tf.layers.dense({ name: "fc1", units: 5, kernelInitializer: seeded("fc1") }),
      tf.layers.reLU({ name: "r2" }),
      tf.layers.dense({ name: "fc", units: 3, kernelInitializer: seeded("fc") }),
    ],
  });
  const graph = buildChannelGraph(seq);
  deepEqual(summary(graph.groups), ["c1_input:2!", "c1:4", "fc1:5", "fc:3!"]);
  const x = tf.randomNormal([2, 6, 6, 2], 0, 1, "float32", 2);
  const { pruned } = await checkRemoval(seq, x, { graph });
  const deployed = await inferenceModel(seq);
  deepEqual(deployed.layers.map((l) => l.getClassName()), [
    "InputLayer",
    "Conv2D",
    "Flatten",
    "Dense",
    "Dense",
  ]);
  ok(maxAbsDiff(await outputsOf(deployed, x), await outputsOf(seq, x)) < 1e-5);
  // the Sequential is whole and usable after all of it
  ok((await outputsOf(seq, x)).every(Number.isFinite));
  tf.dispose(x);
  for (const m of [pruned, deployed, seq]) m.dispose();
});
