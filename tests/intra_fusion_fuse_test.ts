import { allClose, deepEqual, equal, ok, rejects } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { buildChannelGraph, layerWeight, removeChannels, Rng, tf } from "@shears/core";
import {
  channelSums,
  defaultPruner,
  foldBatchNorm,
  fuseInto,
  fusionPruner,
  isIdentityBn,
  l1Importance,
  neuronFeatures,
  TaylorAccumulator,
  topK,
  transportMap,
} from "@shears/intra_fusion";

await useTestBackend();

type ST = tf.SymbolicTensor;

/** conv(bias) -> BN -> ReLU -> conv(no bias) -> BN -> ReLU -> pool -> flatten -> dense. */
function tinyConvNet(seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotNormal({ seed: seed + s });
  const input = tf.input({ shape: [6, 6, 2], name: "input" });
  let x = tf.layers.conv2d({
    name: "conv1",
    filters: 6,
    kernelSize: 3,
    padding: "same",
    kernelInitializer: init(1),
    biasInitializer: tf.initializers.randomNormal({ seed: seed + 2, stddev: 0.1 }),
  }).apply(input) as ST;
  x = tf.layers.batchNormalization({ name: "bn1", epsilon: 1e-5 }).apply(x) as ST;
  x = tf.layers.reLU({ name: "relu1" }).apply(x) as ST;
  x = tf.layers.conv2d({
    name: "conv2",
    filters: 5,
    kernelSize: 3,
    padding: "same",
    useBias: false,
    kernelInitializer: init(3),
  }).apply(x) as ST;
  x = tf.layers.batchNormalization({ name: "bn2", epsilon: 1e-3 }).apply(x) as ST;
  x = tf.layers.reLU({ name: "relu2" }).apply(x) as ST;
  x = tf.layers.maxPooling2d({ name: "pool", poolSize: 2 }).apply(x) as ST;
  x = tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
  const out = tf.layers.dense({ name: "fc", units: 3, kernelInitializer: init(4) }).apply(x) as ST;
  const model = tf.model({ inputs: input, outputs: out });
  // Non-trivial BN statistics and affine parameters.
  const rng = new Rng(seed);
  for (const bn of ["bn1", "bn2"]) {
    const layer = model.getLayer(bn);
    for (const w of layer.weights) {
      const n = w.shape[0]!;
      const param = w.originalName.split("/").pop()!;
      const vals = Float32Array.from(
        { length: n },
        () =>
          param === "moving_variance"
            ? 0.5 + rng.next()
            : param === "gamma"
            ? 0.5 + rng.next()
            : rng.normal() * 0.3,
      );
      w.write(tf.tensor1d(vals));
    }
  }
  return model;
}

function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

const input = (seed: number) => tf.randomNormal([4, 6, 6, 2], 0, 1, "float32", seed);

Deno.test("BN folding with epsilon preserves outputs exactly; without it, nearly", async () => {
  const model = tinyConvNet(1);
  const x = input(2);
  const before = predict(model, x);
  const exact = await foldBatchNorm(model, { includeEps: true });
  deepEqual(exact.folded, [{ producer: "conv1", bn: "bn1" }, { producer: "conv2", bn: "bn2" }]);
  allClose(predict(exact.model, x), before, { rtol: 1e-4, atol: 1e-5 }, "folded with eps");
  ok(await isIdentityBn(exact.model.getLayer("bn1")));
  ok(await isIdentityBn(exact.model.getLayer("bn2")));
  ok(!(await isIdentityBn(model.getLayer("bn1"))), "the unfolded BN is not the identity");
  ok(layerWeight(exact.model.getLayer("conv2"), "bias"), "conv2 gained a bias");
  // The reference's fold (no eps) differs by the eps/var ratio only.
  const ref = await foldBatchNorm(model);
  const approx = predict(ref.model, x);
  allClose(approx, before, { rtol: 3e-3, atol: 3e-3 }, "folded without eps");
  ok(approx.some((v, i) => v !== before[i]), "no-eps fold should differ from the exact one");
  // The input model is untouched, and folding twice changes nothing.
  allClose(predict(model, x), before, { rtol: 0, atol: 0 }, "input model");
  const twice = await foldBatchNorm(ref.model);
  deepEqual(twice.folded, []);
  allClose(predict(twice.model, x), approx, { rtol: 0, atol: 1e-6 }, "folded twice");
  for (const m of [model, exact.model, ref.model, twice.model]) m.dispose();
  x.dispose();
});

Deno.test("fusion with k = n and an identity map leaves the model unchanged", async () => {
  const model = (await foldBatchNorm(tinyConvNet(3))).model;
  const x = input(4);
  const before = predict(model, x);
  for (const id of ["conv1", "conv2"]) {
    const graph = buildChannelGraph(model);
    const group = graph.group(id);
    const all = Array.from({ length: group.size }, (_, j) => j);
    const map = transportMap(await neuronFeatures(model, group), all);
    for (let t = 0; t < group.size; t++) {
      for (let s = 0; s < group.size; s++) equal(map.map[t * group.size + s], t === s ? 1 : 0);
    }
    const copy = await removeChannels(model, new Map([[id, []]]), graph);
    fuseInto(model, group, copy, buildChannelGraph(copy).group(id), map, "sum");
    allClose(predict(copy, x), before, { rtol: 1e-5, atol: 1e-6 }, `group ${id}`);
    copy.dispose();
  }
  model.dispose();
  x.dispose();
});

/** input(4) -> dense h(6) -> ReLU -> dense(3); hidden units 3..5 duplicate 0..2 exactly. */
function duplicatedMlp(): tf.LayersModel {
  const input = tf.input({ shape: [4], name: "input" });
  const h = tf.layers.dense({ name: "hidden", units: 6 }).apply(input) as ST;
  const r = tf.layers.reLU({ name: "relu" }).apply(h) as ST;
  const out = tf.layers.dense({ name: "out", units: 3 }).apply(r) as ST;
  const model = tf.model({ inputs: input, outputs: out });
  const rng = new Rng(9);
  const rand = (n: number) => Array.from({ length: n }, () => rng.normal());
  const w1 = rand(4 * 3), b1 = rand(3), w2 = rand(3 * 3);
  const k1 = new Float32Array(4 * 6), k2 = new Float32Array(6 * 3);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 6; j++) k1[i * 6 + j] = w1[i * 3 + (j % 3)];
  }
  for (let j = 0; j < 6; j++) for (let o = 0; o < 3; o++) k2[j * 3 + o] = w2[(j % 3) * 3 + o];
  model.setWeights([
    tf.tensor2d(k1, [4, 6]),
    tf.tensor1d([...b1, ...b1]),
    tf.tensor2d(k2, [6, 3]),
    tf.tensor1d([0.1, -0.2, 0.3]),
  ]);
  return model;
}

Deno.test("summing (reference) vs averaging, on exactly duplicated neurons", async () => {
  const x = tf.randomNormal([8, 4], 0, 1, "float32", 5);
  const base = duplicatedMlp();
  const y = predict(base, x);
  const b2 = [0.1, -0.2, 0.3];
  const scale = (f: number) => Array.from(y, (v, i) => (v - b2[i % 3]) * f + b2[i % 3]);
  const scores = () => ({
    target: "channels" as const,
    values: new Map([["hidden", tf.tensor1d([6, 5, 4, 3, 2, 1])]]),
  });
  const run = async (pruner: typeof fusionPruner, merge: string) => {
    const ctx = { model: base } as Parameters<typeof fusionPruner.prune>[0];
    const sc = scores();
    const res = await pruner.prune(ctx, sc, { keepRatio: 0.5 }, { merge });
    sc.values.forEach((t) => t.dispose());
    deepEqual(res.perLayer, [{ name: "hidden", before: 6, after: 3 }]);
    const out = predict(ctx.model!, x);
    ctx.model!.dispose();
    return out;
  };
  // Averaging: the kept neuron is the mean of its (identical) merged neurons and
  // carries both next-layer columns: exactly the original function.
  allClose(await run(fusionPruner, "average"), y, { rtol: 1e-5, atol: 1e-5 }, "average");
  // Summing (reference default): out-row doubled and columns summed: 2x the hidden contribution.
  allClose(await run(fusionPruner, "sum"), scale(2), { rtol: 1e-5, atol: 1e-5 }, "sum");
  // Default pruning drops the duplicates: half of the hidden contribution.
  allClose(await run(defaultPruner, "sum"), scale(0.5), { rtol: 1e-5, atol: 1e-5 }, "default");
  base.dispose();
  x.dispose();
});

Deno.test("pruners: shapes, kept counts, input model untouched, no tensor leak", async () => {
  const base = (await foldBatchNorm(tinyConvNet(7))).model;
  const x = input(8);
  const before = predict(base, x);
  const scores = await l1Importance(base);
  deepEqual([...scores.values.keys()].sort(), ["conv1", "conv2"]);
  let count = -1;
  for (let rep = 0; rep < 3; rep++) {
    for (const pruner of [fusionPruner, defaultPruner]) {
      const ctx = { model: base } as Parameters<typeof fusionPruner.prune>[0];
      const res = await pruner.prune(ctx, scores, { keepRatio: 0.5 }, {});
      deepEqual(res.perLayer, [
        { name: "conv1", before: 6, after: 3 },
        { name: "conv2", before: 5, after: 2 },
      ]);
      equal(ctx.model!.getLayer("conv1").getWeights()[0].shape[3], 3);
      equal(ctx.model!.getLayer("fc").getWeights()[0].shape[0], 9 * 2);
      equal(predict(ctx.model!, x).length, 4 * 3);
      ctx.model!.dispose();
    }
    if (rep === 1) count = tf.memory().numTensors;
  }
  equal(tf.memory().numTensors, count, "tensors leaked across prune calls");
  allClose(predict(base, x), before, { rtol: 0, atol: 0 }, "base model");
  // Keeping everything: both pruners return the (folded) function unchanged.
  for (const pruner of [fusionPruner, defaultPruner]) {
    const ctx = { model: base } as Parameters<typeof fusionPruner.prune>[0];
    await pruner.prune(ctx, scores, { keepRatio: 1 }, {});
    allClose(predict(ctx.model!, x), before, { rtol: 1e-5, atol: 1e-6 }, pruner.description);
    ctx.model!.dispose();
  }
  await rejects(
    async () =>
      await fusionPruner.prune(
        { model: base } as Parameters<typeof fusionPruner.prune>[0],
        {
          target: "weights",
          values: new Map(),
        },
        { keepRatio: 0.5 },
        {},
      ),
    /"channels" scores/,
  );
  // a fusion that fails half-way (bad option) frees the models it built
  const held = tf.memory().numTensors;
  await rejects(
    async () =>
      await fusionPruner.prune(
        { model: base } as Parameters<typeof fusionPruner.prune>[0],
        scores,
        { keepRatio: 0.5 },
        { merge: "bogus" },
      ),
    /intra_fusion\/fusion option merge must be one of sum, average, got bogus/,
  );
  equal(tf.memory().numTensors, held, "tensors leaked by a failed fusion");
  scores.values.forEach((t) => t.dispose());
  base.dispose();
  x.dispose();
});

Deno.test("l1 importance is the group mean of out-row and in-column L1 norms, mean-normalised", async () => {
  const model = duplicatedMlp();
  const [k1, , k2] = model.getWeights().map((w) => w.arraySync() as number[][]);
  const expected = Array.from({ length: 6 }, (_, j) => {
    const out = k1.reduce((s, row) => s + Math.abs(row[j]), 0);
    const inn = k2[j].reduce((s, v) => s + Math.abs(v), 0);
    return (out + inn) / 2;
  });
  const mean = expected.reduce((a, b) => a + b) / 6;
  const scores = await l1Importance(model);
  allClose(scores.values.get("hidden")!.dataSync(), expected.map((v) => v / mean), {}, "l1");
  scores.values.forEach((t) => t.dispose());
  model.dispose();
});

Deno.test("taylor importance: |w * sum of batch gradients| in eval mode, group mean", async () => {
  const model = (await foldBatchNorm(tinyConvNet(11))).model;
  const batches = [0, 1].map((s) => ({
    x: input(20 + s),
    y: tf.tensor1d([0, 1, 2, 1], "int32") as tf.Tensor1D,
  }));
  const acc = new TaylorAccumulator(model);
  for (const b of batches) acc.add(b);
  const scores = await acc.scores();
  // Reference: the gradient of the summed batch losses, taken directly.
  const group = buildChannelGraph(model).group("conv2");
  const refs = [group.producers.find((r) => r.weight === "kernel")!, group.consumers[0]];
  const vars = refs.map((r) =>
    layerWeight(model.getLayer(r.layer), "kernel")!.read() as tf.Variable
  );
  const { value, grads } = tf.variableGrads(() =>
    batches.map((b) => {
      const logits = model.apply(b.x, { training: false }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(tf.oneHot(b.y, 3), logits) as tf.Scalar;
    }).reduce((a, b) => a.add(b)) as tf.Scalar, vars);
  const sides = await Promise.all(refs.map(async (r, i) => {
    const prod = vars[i].mul(grads[vars[i].name]).abs();
    const s = await channelSums(prod, r);
    prod.dispose();
    return s;
  }));
  tf.dispose([value, grads]);
  const raw = sides[0].map((v, j) => (v + sides[1][j]) / 2);
  ok(raw.every((v) => v > 0));
  const mean = raw.reduce((a, b) => a + b) / raw.length;
  allClose(
    scores.values.get("conv2")!.dataSync(),
    raw.map((v) => v / mean),
    { rtol: 1e-3 },
    "taylor",
  );
  scores.values.forEach((t) => t.dispose());
  acc.dispose();
  batches.forEach((b) => tf.dispose([b.x, b.y]));
  model.dispose();
});

Deno.test("topK keeps the highest scores, ties to the lower index", () => {
  deepEqual(topK([0.1, 0.9, 0.5, 0.9, 0.2], 3), [1, 2, 3]);
});
