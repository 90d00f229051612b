/**
 * Every standard tfjs layer that carries channels, through the channel graph
 * and surgery (the table in docs/layers.md): small models of each kind are
 * pruned (half of every prunable group) and must compute what the original
 * computes with those channels held at zero; layers that cannot be pruned
 * through pin their channels with a reason instead of failing.
 * @module
 */
import {
  buildChannelGraph,
  type ChannelGroup,
  inferenceModel,
  rewriteLayers,
  tf,
} from "@shears/core";
import { deepEqual, equal, match, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { checkRemoval, maxAbsDiff, outputsOf, perturbStatistics, seeded } from "./prune_check.ts";

await useTestBackend();

type ST = tf.SymbolicTensor;
const L = tf.layers;
const on = (layer: tf.layers.Layer, x: ST | ST[]) => layer.apply(x) as ST;
/** A recurrent layer's kernel (glorotUniform) and recurrent kernel (orthogonal) initializers, seeded. */
const recurrent = (name: string) => ({
  kernelInitializer: seeded(name),
  recurrentInitializer: seeded(`${name}/recurrent`, tf.initializers.orthogonal),
});
const conv = (x: ST, name: string, filters: number, k = 3) =>
  on(
    L.conv2d({ name, filters, kernelSize: k, padding: "same", kernelInitializer: seeded(name) }),
    x,
  );
const dense = (x: ST, name: string, units: number) =>
  on(L.dense({ name, units, kernelInitializer: seeded(name) }), x);
const summary = (groups: ChannelGroup[]) =>
  groups.map((g) => `${g.id}:${g.size}${g.prunable ? "" : "!"}`);

/** Builds, perturbs, prunes half of every group, checks the invariant, disposes; returns the graph. */
async function prunes(
  inputs: ST | ST[],
  output: ST | ST[],
  seed: number,
  x?: tf.Tensor | tf.Tensor[],
): Promise<ChannelGroup[]> {
  const model = tf.model({ inputs, outputs: output });
  perturbStatistics(model, seed);
  const xs = x ??
    model.inputs.map((i, k) =>
      tf.randomNormal([2, ...(i.shape.slice(1) as number[])], 0, 1, "float32", seed + k)
    );
  const input = Array.isArray(xs) && xs.length === 1 ? xs[0] : xs;
  const graph = buildChannelGraph(model);
  const { pruned } = await checkRemoval(model, input, { graph });
  tf.dispose(xs);
  pruned.dispose();
  model.dispose();
  return graph.groups;
}

Deno.test("BatchNormalization on every spelling of the channel axis is a follower", async () => {
  const input = tf.input({ shape: [6, 6, 3], name: "input" });
  let x = on(L.batchNormalization({ name: "bn3", axis: 3 }), conv(input, "c1", 4));
  x = on(
    L.batchNormalization({ name: "bnm1", axis: -1 }),
    conv(on(L.reLU({ name: "r1" }), x), "c2", 5),
  );
  const flat = on(L.flatten({ name: "flat" }), on(L.maxPooling2d({ name: "p", poolSize: 3 }), x));
  const d = on(L.batchNormalization({ name: "bn1", axis: 1 }), dense(flat, "d1", 6));
  const model = tf.model({ inputs: input, outputs: dense(d, "fc", 3) });
  // Keras saves the axis as a list: [3]
  const keras = rewriteLayers(
    model,
    (l) => l.name === "bn3" ? { ...l, config: { ...l.config, axis: [3] } } : l,
  );
  equal(JSON.stringify(keras.getLayer("bn3").getConfig().axis), "[3]");
  const x0 = tf.randomNormal([2, 6, 6, 3], 0, 1, "float32", 1);
  for (const m of [model, keras]) {
    perturbStatistics(m, 1);
    const graph = buildChannelGraph(m);
    deepEqual(summary(graph.groups), ["input:3!", "c1:4", "c2:5", "d1:6", "fc:3!"]);
    deepEqual(graph.group("c1").followers.map((f) => f.layer).sort(), Array(4).fill("bn3"));
    const { pruned } = await checkRemoval(m, x0, { graph });
    const deployed = await inferenceModel(m);
    ok(!deployed.layers.some((l) => l.getClassName() === "BatchNormalization"), "all folded");
    ok(maxAbsDiff(await outputsOf(deployed, x0), await outputsOf(m, x0)) < 1e-5);
    for (const t of [pruned, deployed]) t.dispose();
  }
  // Over the height axis it is not channel-wise: pinned, not an error.
  const hx = on(L.batchNormalization({ name: "bnh", axis: 1 }), conv(input, "c3", 4));
  const h = tf.model({ inputs: input, outputs: dense(on(L.flatten({ name: "f3" }), hx), "o", 2) });
  match(
    buildChannelGraph(h).group("c3").reason!,
    /BatchNormalization 'bnh', which normalizes over axis 1/,
  );
  for (const m of [model, keras, h]) m.dispose();
  x0.dispose();
});

Deno.test("2-D layers: transposed, separable and depthwise convs, padding, cropping, upsampling, pools, activations, noise", async () => {
  const input = tf.input({ shape: [8, 8, 2], name: "input" });
  let x = conv(input, "c1", 6);
  x = on(L.prelu({ name: "prelu", sharedAxes: [1, 2] }), x);
  x = on(
    L.conv2dTranspose({
      name: "ct",
      filters: 5,
      kernelSize: 2,
      strides: 2,
      padding: "same",
      kernelInitializer: seeded("ct"),
    }),
    x,
  );
  x = on(L.cropping2D({ name: "crop", cropping: [[1, 1], [2, 0]] }), x);
  x = on(L.zeroPadding2d({ name: "zp", padding: [[1, 1], [0, 2]] }), x);
  x = on(L.leakyReLU({ name: "lrelu", alpha: 0.2 }), x);
  x = on(
    L.separableConv2d({
      name: "sep",
      filters: 7,
      kernelSize: 3,
      padding: "same",
      // tfjs 4.22 draws the pointwise kernel with depthwiseInitializer (pointwiseInitializer is
      // ignored); both are given so that a tfjs which reads it stays seeded
      depthwiseInitializer: seeded("sep"),
      pointwiseInitializer: seeded("sep/pointwise"),
    }),
    x,
  );
  x = on(L.elu({ name: "elu" }), x);
  x = on(
    L.depthwiseConv2d({
      name: "dw",
      kernelSize: 3,
      padding: "same",
      depthwiseInitializer: seeded("dw"),
    }),
    x,
  );
  x = on(L.thresholdedReLU({ name: "trelu", theta: 0.1 }), x);
  x = on(L.averagePooling2d({ name: "ap", poolSize: 2 }), x);
  x = on(L.upSampling2d({ name: "up", size: [2, 2] }), x);
  x = on(L.gaussianNoise({ name: "gn", stddev: 0.1 }), x);
  x = on(L.gaussianDropout({ name: "gd", rate: 0.1 }), x);
  x = on(L.alphaDropout({ name: "ad", rate: 0.1 }), x);
  x = on(L.activation({ name: "tanh", activation: "tanh" }), conv(x, "c2", 4));
  x = on(L.globalMaxPooling2d({ name: "gmp" }), on(L.maxPooling2d({ name: "mp", poolSize: 2 }), x));
  const groups = await prunes(input, dense(x, "fc", 3), 2);
  deepEqual(summary(groups), ["input:2!", "c1:6", "ct:5", "sep:7", "c2:4", "fc:3!"]);
  const sep = groups.find((g) => g.id === "sep")!;
  deepEqual(sep.followers.map((f) => `${f.layer}/${f.weight}`).sort(), [
    "dw/bias",
    "dw/depthwise_kernel",
  ]);
  deepEqual(
    groups.find((g) => g.id === "ct")!.consumers.map((c) => `${c.layer}/${c.weight}/${c.axis}`),
    [
      "sep/depthwise_kernel/2",
      "sep/pointwise_kernel/2",
    ],
  );
  equal(groups.find((g) => g.id === "c1")!.followers[0].weight, "alpha");
});

Deno.test("1-D and 3-D layers: Conv1D, pools, Masking, Conv3D, Conv3DTranspose", async () => {
  const seq = tf.input({ shape: [10, 3], name: "seq" });
  let s = on(
    L.conv1d({
      name: "k1",
      filters: 6,
      kernelSize: 3,
      padding: "same",
      kernelInitializer: seeded("k1"),
    }),
    seq,
  );
  s = on(L.masking({ name: "mask", maskValue: 0 }), s);
  s = on(L.maxPooling1d({ name: "mp1", poolSize: 2 }), s);
  s = on(L.spatialDropout1d({ name: "sd", rate: 0.2 }), s);
  s = on(L.conv1d({ name: "k2", filters: 5, kernelSize: 2, kernelInitializer: seeded("k2") }), s);
  s = on(L.averagePooling1d({ name: "ap1", poolSize: 2 }), s);
  const a = on(L.globalAveragePooling1d({ name: "gap1" }), s);
  const b = on(L.globalMaxPooling1d({ name: "gmp1" }), s);
  const g1 = await prunes(seq, dense(on(L.add({ name: "sum" }), [a, b]), "fc", 2), 3);
  deepEqual(summary(g1), ["seq:3!", "k1:6", "k2:5", "fc:2!"]);

  const vol = tf.input({ shape: [4, 4, 4, 2], name: "vol" });
  let v = on(
    L.conv3d({
      name: "v1",
      filters: 4,
      kernelSize: 3,
      padding: "same",
      kernelInitializer: seeded("v1"),
    }),
    vol,
  );
  v = on(L.maxPooling3d({ name: "vp", poolSize: 2 }), v);
  v = on(
    L.conv3dTranspose({
      name: "vt",
      filters: 3,
      kernelSize: 2,
      strides: 2,
      padding: "same",
      kernelInitializer: seeded("vt"),
    }),
    v,
  );
  v = on(L.averagePooling3d({ name: "vap", poolSize: 2 }), v);
  const g2 = await prunes(vol, dense(on(L.flatten({ name: "vf" }), v), "fc", 2), 4);
  deepEqual(summary(g2), ["vol:2!", "v1:4", "vt:3", "fc:2!"]);
});

Deno.test("Reshape, Flatten and Permute keep channels identifiable; Dense on any rank", async () => {
  const input = tf.input({ shape: [4, 4, 3], name: "input" });
  const c = conv(input, "c1", 6);
  let x = on(L.permute({ name: "perm", dims: [2, 1, 3] }), c); // swaps H and W, keeps channels
  x = on(L.reshape({ name: "rows", targetShape: [16, 6] }), x); // [H*W, C]
  x = dense(x, "d1", 5); // Dense on [16, 6]
  x = on(L.reshape({ name: "wc", targetShape: [4, 20] }), x); // units (w*5 + c)
  x = dense(x, "d2", 4);
  const flat = on(L.flatten({ name: "flat" }), x);
  const back = on(L.reshape({ name: "back", targetShape: [4, 4] }), flat); // un-flatten
  const se = on(
    L.reshape({ name: "se", targetShape: [1, 1, 4] }),
    on(L.globalAveragePooling1d({ name: "g" }), back),
  );
  const y = dense(on(L.flatten({ name: "f2" }), dense(se, "d3", 3)), "fc", 2);
  const groups = await prunes(input, y, 5);
  deepEqual(summary(groups), ["input:3!", "c1:6", "d1:5", "d2:4", "d3:3", "fc:2!"]);
  const d2 = groups.find((g) => g.id === "d1")!.consumers[0];
  deepEqual([d2.layer, d2.channels, d2.spatial], ["d2", 5, 4]);

  // A Reshape that mixes channels into other axes, and a Permute that moves them: pinned.
  const mix = on(L.reshape({ name: "mix", targetShape: [12, 8] }), conv(input, "c2", 6));
  const mv = on(L.permute({ name: "mv", dims: [3, 1, 2] }), conv(input, "c3", 5));
  const out = on(L.concatenate({ name: "cat" }), [
    on(L.flatten({ name: "fm" }), mix),
    on(L.flatten({ name: "fv" }), mv),
  ]);
  const m = tf.model({ inputs: input, outputs: dense(out, "o", 2) });
  const g = buildChannelGraph(m);
  match(
    g.group("c2").reason!,
    /is read by Reshape 'mix', which reshapes 6 channels into a last axis of 8/,
  );
  match(g.group("c3").reason!, /is read by Permute 'mv', which moves the channel axis/);
  m.dispose();
});

Deno.test("merges: equal channels join, a one-channel input broadcasts (pinned), concat on other axes joins", async () => {
  const input = tf.input({ shape: [6, 6, 2], name: "input" });
  const a = conv(input, "a", 5), b = conv(input, "b", 5);
  const att = on(L.activation({ name: "sig", activation: "sigmoid" }), conv(input, "att", 1));
  let x = on(L.multiply({ name: "gate" }), [a, att]); // spatial attention
  x = on(L.average({ name: "avg" }), [x, b]);
  x = on(L.maximum({ name: "max" }), [x, conv(input, "c", 5)]);
  x = on(L.minimum({ name: "min" }), [x, conv(input, "d", 5)]);
  x = on(L.concatenate({ name: "rows", axis: 1 }), [x, conv(input, "e", 5)]); // [12, 6, 5]
  const groups = await prunes(
    input,
    dense(on(L.globalAveragePooling2d({ name: "gap" }), x), "fc", 2),
    6,
  );
  deepEqual(summary(groups), ["input:2!", "att:1!", "a:5", "fc:2!"]);
  match(groups[1].reason!, /is broadcast across channels by Multiply 'gate'/);
  deepEqual(
    groups[2].producers.filter((p) => p.weight === "kernel").map((p) => p.layer),
    ["a", "b", "c", "d", "e"],
  );
});

Deno.test("Embedding and recurrent layers: the embedding is pruned, recurrent units are pinned", async () => {
  const ids = tf.input({ shape: [7], name: "ids" });
  const e = on(
    L.embedding({
      name: "emb",
      inputDim: 20,
      outputDim: 6,
      embeddingsInitializer: seeded("emb", tf.initializers.randomUniform),
    }),
    ids,
  );
  const lstm = on(
    L.lstm({ name: "lstm", units: 4, returnSequences: true, ...recurrent("lstm") }),
    e,
  );
  const [gru, state] = L.gru({ name: "gru", units: 3, returnState: true, ...recurrent("gru") })
    .apply(lstm) as ST[];
  const rnn = on(
    L.simpleRNN({ name: "rnn", units: 2, ...recurrent("rnn") }),
    on(L.conv1d({ name: "k", filters: 5, kernelSize: 2, kernelInitializer: seeded("k") }), e),
  );
  const out = dense(on(L.concatenate({ name: "cat" }), [gru, state, rnn]), "fc", 2);
  const x = tf.randomUniform([2, 7], 0, 20, "int32", 7);
  const groups = await prunes(ids, out, 7, [x]);
  deepEqual(summary(groups), [
    "ids:7!",
    "emb:6",
    "lstm:4!",
    "k:5",
    "gru:3!",
    "gru#1:3!",
    "rnn:2!",
    "fc:2!",
  ]);
  match(groups[2].reason!, /is made by LSTM 'lstm', whose units are coupled in its recurrence/);
  deepEqual(groups[1].consumers.map((c) => `${c.layer}/${c.weight}/${c.axis}`).sort(), [
    "k/kernel/1",
    "lstm/kernel/0",
  ]);
  x.dispose();
});

Deno.test("layers that mix channels are pinned with a reason, never an error", () => {
  const input = tf.input({ shape: [5, 4], name: "input" });
  const a = dense(input, "a", 6), b = dense(input, "b", 6), c = dense(input, "c", 3);
  const ln = on(L.layerNormalization({ name: "ln" }), a);
  const sm = on(L.softmax({ name: "sm", axis: -1 }), b);
  const dot = on(L.dot({ name: "dot", axes: 2 }), [dense(input, "h1", 3), dense(input, "h2", 3)]);
  const norm = on(L.add({ name: "norms" }), [ln, sm]);
  const bi = on(
    L.bidirectional({
      name: "bi",
      layer: L.lstm({ units: 2, ...recurrent("bi") }) as never,
    }),
    c,
  );
  const td = on(
    L.timeDistributed({
      name: "td",
      layer: L.dense({ units: 2, kernelInitializer: seeded("td") }),
    }),
    dense(input, "d", 3),
  );
  const mask = on(L.masking({ name: "m7", maskValue: 7 }), dense(input, "e", 3));
  const dw2 = on(
    L.depthwiseConv2d({
      name: "dw2",
      kernelSize: 1,
      depthMultiplier: 2,
      depthwiseInitializer: seeded("dw2"),
    }),
    on(L.reshape({ name: "r", targetShape: [5, 1, 3] }), dense(input, "f", 3)),
  );
  const gt = dense(input, "g", 2);
  const twice = on(L.concatenate({ name: "self" }), [gt, gt]);
  const pool = (t: ST, n: string) => on(L.globalAveragePooling1d({ name: n }), t);
  const out = dense(
    on(L.concatenate({ name: "all" }), [
      pool(dot, "p1"),
      pool(norm, "p0"),
      bi,
      pool(td, "p2"),
      pool(mask, "p3"),
      on(L.globalAveragePooling2d({ name: "p4" }), dw2),
      pool(twice, "p5"),
      pool(dense(input, "g2", 2), "p6"),
    ]),
    "fc",
    2,
  );
  const model = tf.model({ inputs: input, outputs: out });
  const g = buildChannelGraph(model);
  const reason = (id: string) => g.group(id).reason ?? "prunable";
  match(reason("a"), /LayerNormalization 'ln', which normalizes across channels/);
  match(reason("b"), /Softmax 'sm', which applies a softmax across channels/);
  match(reason("h1"), /Dot 'dot', which takes dot products across channels/);
  match(reason("ln"), /is made by LayerNormalization 'ln'/);
  match(reason("c"), /Bidirectional 'bi'/);
  match(reason("d"), /TimeDistributed 'td', which wraps another layer/);
  match(reason("e"), /Masking 'm7', which masks time steps by all channels \(maskValue 7\)/);
  match(reason("f"), /DepthwiseConv2D 'dw2', which has depthMultiplier 2/);
  match(reason("g"), /is seen twice by 'self'/);
  equal(reason("g2"), "prunable");
  model.dispose();
});

Deno.test("a shared layer slices its weights for all its calls; a shared ReLU joins nothing", async () => {
  const left = tf.input({ shape: [6, 6, 2], name: "left" });
  const right = tf.input({ shape: [6, 6, 2], name: "right" });
  const shared = L.conv2d({
    name: "shared",
    filters: 5,
    kernelSize: 3,
    padding: "same",
    kernelInitializer: seeded("shared"),
  });
  const relu = L.reLU({ name: "relu" });
  const l = on(relu, on(shared, conv(left, "l0", 4)));
  const r = on(relu, on(shared, conv(right, "r0", 4)));
  const other = on(relu, conv(left, "o", 3)); // the same ReLU on 3 channels
  const merged = on(L.concatenate({ name: "cat" }), [
    on(L.add({ name: "sum" }), [l, r]),
    other,
  ]);
  const out = dense(on(L.globalAveragePooling2d({ name: "gap" }), merged), "fc", 2);
  const groups = await prunes([left, right], out, 8);
  deepEqual(summary(groups), ["left:2!", "right:2!", "l0:4", "shared:5", "o:3", "fc:2!"]);
  const l0 = groups.find((g) => g.id === "l0")!;
  deepEqual(l0.producers.filter((p) => p.weight === "kernel").map((p) => p.layer), ["l0", "r0"]);
});

Deno.test("a nested model is pinned, the layers around it prune, and its weights survive surgery", async () => {
  const inner = tf.input({ shape: [6, 6, 4], name: "inner_in" });
  const base = tf.model({
    inputs: inner,
    outputs: conv(on(L.reLU({ name: "inner_relu" }), conv(inner, "c1", 5)), "c2", 5),
    name: "base",
  });
  const input = tf.input({ shape: [6, 6, 2], name: "input" });
  const x = on(base, conv(input, "pre", 4));
  const y = dense(
    on(L.reLU({ name: "r" }), dense(on(L.globalAveragePooling2d({ name: "gap" }), x), "fc1", 6)),
    "fc",
    2,
  );
  const groups = await prunes(input, y, 9);
  deepEqual(summary(groups), ["input:2!", "pre:4!", "base:5!", "fc1:6", "fc:2!"]);
  match(groups[1].reason!, /is read by Model 'base', which is a nested model/);
});
