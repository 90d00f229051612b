import { lastValueFrom, toArray } from "rxjs";
import { type PruneResult, type RunContext, stage, tf, train } from "@shears/core";
import {
  GradientPrunedConv2D,
  gradientPrunedLayers,
  gradientPrunedModel,
  plainConvModel,
} from "@shears/magnitude";
import { syntheticDataset } from "@shears/datasets";
import { useTestBackend } from "./backend_setup.ts";
import { allClose, deepEqual, equal, ok, rejects } from "./assert.ts";
import {
  linearConvNet,
  magnitudeContext,
  TINY_CONVS,
  tinyResNet,
  weightValues,
} from "./magnitude_fixtures.ts";

await useTestBackend();

const CONVS = ["c1/kernel", "c2/kernel", "c3/kernel"];

/** Scores with `magnitude/abs` and prunes with `pruner`; scores disposed. */
async function prune(
  ctx: RunContext,
  pruner: string,
  options: Record<string, unknown>,
): Promise<PruneResult> {
  const { include, ...pruning } = options; // the scorer's option; the rest are the pruner's
  const session = ctx.registry.scorer("magnitude/abs").start(ctx, include ? { include } : {});
  const scores = await session.scores();
  try {
    return await ctx.registry.pruner(pruner).prune(ctx, scores, {}, pruning);
  } finally {
    scores.values.forEach((t) => t.dispose());
  }
}

/** A linear loss Σ c·f(x): its gradient does not depend on the forward activations. */
function lossOf(model: tf.LayersModel, c: tf.Tensor) {
  return (x: tf.Tensor) => tf.sum(tf.mul(model.apply(x) as tf.Tensor, c)) as tf.Scalar;
}

/** dL/dW of every trainable weight, by name. */
function weightGrads(model: tf.LayersModel, x: tf.Tensor, c: tf.Tensor): Map<string, Float32Array> {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => lossOf(model, c)(x), vars);
  value.dispose();
  const out = new Map<string, Float32Array>();
  model.trainableWeights.forEach((w, i) =>
    out.set(w.originalName, grads[vars[i].name].dataSync() as Float32Array)
  );
  tf.dispose(grads);
  return out;
}

const inputGrad = (model: tf.LayersModel, x: tf.Tensor, c: tf.Tensor) =>
  tf.tidy(() => tf.grad(lossOf(model, c))(x).dataSync() as Float32Array);

/** Full, globally pruned (p_bern 1) and gradient-pruned copies of linearConvNet(depth). */
async function threeWays(depth: number, p: number) {
  const full = linearConvNet(7, depth);
  const pruned = linearConvNet(7, depth);
  const pctx = magnitudeContext(pruned);
  await prune(pctx, "magnitude/global", { p_prune: p, p_bern: 1 });
  pctx.masks.dispose(); // the pruned values stay; only the undo copies go
  const gctx = magnitudeContext(linearConvNet(7, depth), 5);
  const res = await prune(gctx, "magnitude/gradient", { p_prune: p, p_bern: 1 });
  const x = tf.randomNormal([2, 7, 7, 3], 0, 1, "float32", 1);
  const outShape = full.outputs[0].shape.slice(1) as number[];
  const c = tf.randomNormal([2, ...outShape], 0, 1, "float32", 2);
  return { full, pruned, gp: gctx.model!, res, x, c };
}

Deno.test("gradient pruning, one conv: forward and dL/dW identical, dL/dinput equals the pruned model's", async () => {
  const { full, pruned, gp, res, x, c } = await threeWays(1, 0.4);
  equal(gradientPrunedLayers(gp).length, 1);
  equal(res.total - res.kept, Math.floor(0.4 * res.total), "candidates at p_bern 1 = floor(p N)");
  const y = (m: tf.LayersModel) => tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync());
  deepEqual(y(gp), y(full), "forward outputs identical");
  const gFull = weightGrads(full, x, c), gGp = weightGrads(gp, x, c);
  deepEqual([...gGp.keys()], ["c1/kernel", "c1/bias"]);
  for (const [name, g] of gFull) deepEqual(gGp.get(name), g, `dL/d${name} identical`);
  const dxFull = inputGrad(full, x, c), dxPruned = inputGrad(pruned, x, c);
  allClose(inputGrad(gp, x, c), dxPruned, { rtol: 1e-6, atol: 1e-6 }, "dL/dx vs pruned model");
  ok(dxPruned.some((v, i) => Math.abs(v - dxFull[i]) > 1e-3), "pruning changes dL/dx at all");
  deepEqual(weightValues(gp, "c1/kernel"), weightValues(full, "c1/kernel"), "weights untouched");
  tf.dispose([x, c]);
  [full, pruned, gp].forEach((m) => m.dispose());
});

Deno.test("gradient pruning, three linear convs: dL/dx through the pruned chain, dL/dW local", async () => {
  const { full, pruned, gp, res, x, c } = await threeWays(3, 0.5);
  equal(gradientPrunedLayers(gp).length, 3, "every Conv2D swapped");
  deepEqual(gp.weights.map((w) => w.originalName), full.weights.map((w) => w.originalName));
  deepEqual(res.perLayer.map((r) => r.name), CONVS);
  const y = (m: tf.LayersModel) => tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync());
  deepEqual(y(gp), y(full), "forward outputs identical");
  allClose(inputGrad(gp, x, c), inputGrad(pruned, x, c), { rtol: 1e-5, atol: 1e-6 }, "dL/dx");
  // dL/dW = filter gradient of (forward input, incoming dy): the last conv sees the full
  // model's input and dy = c, so its gradient is the full model's; the first sees the
  // network input and the dy back through the pruned chain, so it is the pruned model's
  const gFull = weightGrads(full, x, c), gPruned = weightGrads(pruned, x, c);
  const gGp = weightGrads(gp, x, c);
  deepEqual(gGp.get("c3/kernel"), gFull.get("c3/kernel"));
  deepEqual(gGp.get("c3/bias"), gFull.get("c3/bias"));
  allClose(gGp.get("c1/kernel")!, gPruned.get("c1/kernel")!, { rtol: 1e-5, atol: 1e-5 }, "c1");
  tf.dispose([x, c]);
  [full, pruned, gp].forEach((m) => m.dispose());
});

Deno.test("gradient pruning: a fresh Bernoulli draw on each backward, against the current weights", () => {
  const model = linearConvNet();
  const tau = 0.2, pBern = 0.5, seed = 40;
  const gp = gradientPrunedModel(model, { threshold: tau, pBern, seed });
  const x = tf.randomNormal([1, 7, 7, 3], 0, 1, "float32", 3);
  const c = tf.randomNormal([1, 4, 4, 3], 0, 1, "float32", 4);
  const layers = gradientPrunedLayers(gp);
  deepEqual(layers.map((l) => l.seed), [seed, seed + 1, seed + 2]);

  /** dL/dx of a copy whose kernels are masked as draw k of each layer would mask them. */
  const expectedDx = (k: number) => {
    const ref = linearConvNet();
    ref.setWeights(gp.getWeights());
    layers.forEach((l, i) => {
      const w = ref.getLayer(l.name).weights[0];
      const m = tf.tidy(() => {
        const u = tf.randomUniform(w.shape as number[], 0, 1, "float32", `${seed + i}:${k}`);
        return tf.logicalOr(tf.greaterEqual(tf.abs(w.read()), tau), tf.greaterEqual(u, pBern));
      });
      w.write(tf.tidy(() => tf.mul(w.read(), m.cast("float32"))));
      m.dispose();
    });
    const dx = inputGrad(ref, x, c);
    ref.dispose();
    return dx;
  };
  const dx0 = inputGrad(gp, x, c), dx1 = inputGrad(gp, x, c);
  deepEqual(layers.map((l) => l.draws), [2, 2, 2], "one draw per backward per layer");
  ok(dx0.some((v, i) => v !== dx1[i]), "two backward passes draw different masks");
  allClose(dx0, expectedDx(0), { rtol: 1e-6, atol: 1e-6 }, "draw 0");
  allClose(dx1, expectedDx(1), { rtol: 1e-6, atol: 1e-6 }, "draw 1");

  // the mask follows the current weights: scaled far above tau, nothing is pruned
  for (const l of layers) l.weights[0].write(tf.tidy(() => l.weights[0].read().mul(1e4)));
  const unpruned = linearConvNet();
  unpruned.setWeights(gp.getWeights());
  allClose(
    inputGrad(gp, x, c),
    inputGrad(unpruned, x, c),
    { rtol: 1e-6, atol: 1e-6 },
    "big weights",
  );
  tf.dispose([x, c]);
  [model, gp, unpruned].forEach((m) => m.dispose());
});

Deno.test("gradient pruning: p_prune 0 leaves dL/dx as it was; p_prune 1 at p_bern 1 zeroes it", async () => {
  const x = tf.randomNormal([2, 7, 7, 3], 0, 1, "float32", 5);
  const c = tf.randomNormal([2, 4, 4, 3], 0, 1, "float32", 6);
  const full = linearConvNet();
  const dxFull = inputGrad(full, x, c);
  const ctx0 = magnitudeContext(linearConvNet());
  const r0 = await prune(ctx0, "magnitude/gradient", { p_prune: 0, p_bern: 1 });
  equal(r0.kept, r0.total);
  deepEqual(inputGrad(ctx0.model!, x, c), dxFull);
  const ctx1 = magnitudeContext(linearConvNet());
  const r1 = await prune(ctx1, "magnitude/gradient", { p_prune: 1, p_bern: 1 });
  equal(r1.kept, 0);
  equal(gradientPrunedLayers(ctx1.model!)[0].threshold, Infinity);
  ok(inputGrad(ctx1.model!, x, c).every((v) => v === 0), "no path left for dL/dx");
  const gW = weightGrads(ctx1.model!, x, c), gFull = weightGrads(full, x, c);
  deepEqual(gW.get("c3/kernel"), gFull.get("c3/kernel"), "last conv's dL/dW still full");
  // re-pruning an already swapped model updates tau in place
  await prune(ctx1, "magnitude/gradient", { p_prune: 0, p_bern: 1 });
  deepEqual(inputGrad(ctx1.model!, x, c), dxFull);
  tf.dispose([x, c]);
  [full, ctx0.model!, ctx1.model!].forEach((m) => m.dispose());
});

Deno.test("gradient pruning: kernel scores and Dense kernels are refused with one clear line", async () => {
  const ctx = magnitudeContext(tinyResNet());
  await rejects(
    () => prune(ctx, "magnitude/gradient", { p_prune: 0.5, include: "dense" }),
    /Conv2D kernels only; got scores for fc\/kernel/,
  );
  const session = ctx.registry.scorer("magnitude/kernel_l1").start(ctx, {});
  const scores = await session.scores();
  await rejects(
    async () =>
      await ctx.registry.pruner("magnitude/gradient").prune(ctx, scores, {}, { p_prune: 0.5 }),
    /thresholds single weights/,
  );
  scores.values.forEach((t) => t.dispose());
  ctx.model!.dispose();
});

Deno.test("GradientPrunedConv2D saves and loads (tau = Infinity too); plain_conv swaps back", async () => {
  const model = tinyResNet();
  const gp = gradientPrunedModel(model, { threshold: Infinity, pBern: 0.3, seed: 9 });
  let saved: tf.io.ModelArtifacts | undefined;
  await gp.save(tf.io.withSaveHandler((a) => {
    saved = a;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const back = gradientPrunedLayers(loaded);
  equal(back.length, 3);
  ok(
    back.every((l) =>
      l instanceof GradientPrunedConv2D && l.threshold === Infinity && l.pBern === 0.3
    ),
  );
  const plain = plainConvModel(loaded);
  deepEqual(
    plain.layers.filter((l) => l.name.includes("conv")).map((l) => l.getClassName()),
    ["Conv2D", "Conv2D", "Conv2D"],
  );
  const x = tf.randomNormal([2, 6, 6, 2], 0, 1, "float32", 8);
  const outs = [model, gp, loaded, plain].map((m) =>
    tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync())
  );
  for (const o of outs.slice(1)) deepEqual(o, outs[0]);
  x.dispose();
  [model, gp, loaded, plain].forEach((m) => m.dispose());
});

/** Trains ctx.model for `epochs` with the core loop; returns numTensors after each epoch. */
async function fit(ctx: RunContext, epochs: number): Promise<number[]> {
  const counts: number[] = [];
  const s = stage("fit", (c, emit, cancel) =>
    train(
      c,
      {
        epochs,
        batchSize: 8,
        optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9 },
        augment: false,
        callbacks: [{ onEpochEnd: () => void counts.push(tf.memory().numTensors) }],
      },
      emit,
      cancel,
    ).then(() => {}));
  await lastValueFrom(s.run(ctx).pipe(toArray()));
  return counts;
}

Deno.test("global pruning: pruned weights stay zero through fine-tuning, the others train; no leak", async () => {
  const ctx = magnitudeContext(tinyResNet());
  ctx.data = syntheticDataset({ n: 32, nTest: 8, inputShape: [6, 6, 2], numClasses: 3 });
  await prune(ctx, "magnitude/global", { p_prune: 0.5, p_bern: 1 });
  const before = TINY_CONVS.map((n) => weightValues(ctx.model!, n));
  const counts = await fit(ctx, 3);
  equal(new Set(counts).size, 1, `numTensors steady across epochs: ${counts}`);
  let moved = 0;
  TINY_CONVS.forEach((n, l) => {
    const after = weightValues(ctx.model!, n);
    after.forEach((v, i) => {
      if (before[l][i] === 0) ok(v === 0, `${n}[${i}] pruned and still zero: ${v}`);
      else if (v !== before[l][i]) moved++;
    });
  });
  ok(moved > 0, "unpruned weights trained");
  ctx.masks.dispose();
  ctx.model!.dispose();
});

Deno.test("gradient pruning trains through the core loop: one draw per batch, no leak", async () => {
  const ctx = magnitudeContext(tinyResNet());
  ctx.data = syntheticDataset({ n: 32, nTest: 8, inputShape: [6, 6, 2], numClasses: 3 });
  await prune(ctx, "magnitude/gradient", { p_prune: 0.5, p_bern: 0.5 });
  const before = weightValues(ctx.model!, "conv1/kernel");
  const counts = await fit(ctx, 3);
  equal(new Set(counts).size, 1, `numTensors steady across epochs: ${counts}`);
  deepEqual(
    gradientPrunedLayers(ctx.model!).map((l) => l.draws),
    [12, 12, 12],
    "3 epochs x 4 batches",
  );
  ok(weightValues(ctx.model!, "conv1/kernel").some((v, i) => v !== before[i]), "stem trained");
  ctx.model!.dispose();
});
