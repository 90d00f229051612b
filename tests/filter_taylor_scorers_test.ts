import {
  buildChannelGraph,
  crossEntropy,
  mask,
  prunableGroups,
  Rng,
  score,
  tf,
} from "@shears/core";
import { filterL1, planRemovals, reluPoints } from "@shears/filter_taylor";
import { allClose, deepEqual, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { chainModel, randomizeWeights, resnetLike, vggLike } from "./channel_models.ts";
import { contextFor, fixedBatches, randomImages, runStage } from "./filter_taylor_fixtures.ts";

await useTestBackend();

type ST = tf.SymbolicTensor;

/** input(5,5,2) -> conv c1 (3 filters) -> relu r1 -> flatten -> fc(2). */
function tinyConv(): tf.LayersModel {
  const input = tf.input({ shape: [5, 5, 2], name: "input" });
  const c = tf.layers.conv2d({ name: "c1", filters: 3, kernelSize: 3, padding: "same" })
    .apply(input) as ST;
  const a = tf.layers.reLU({ name: "r1" }).apply(c) as ST;
  const f = tf.layers.flatten({ name: "flatten" }).apply(a) as ST;
  return tf.model({
    inputs: input,
    outputs: tf.layers.dense({ name: "fc", units: 2 }).apply(f) as ST,
  });
}

/** Per-channel Σ_batches of mean over (N,H,W) of a·g (or of |mean over H,W| per example), by hand. */
function handTaylor(
  model: tf.LayersModel,
  batches: { x: number[][][][]; y: number[] }[],
  perExampleAbs: boolean,
): number[] {
  const feat = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer("r1").getOutputAt(0) as ST,
  });
  const fc = model.getLayer("fc");
  const r = [0, 0, 0];
  for (const b of batches) {
    const [a, g] = tf.tidy(() => {
      const a = feat.predict(tf.tensor4d(b.x)) as tf.Tensor4D;
      const y = tf.tensor1d(b.y, "int32");
      const g = tf.grad((t: tf.Tensor) =>
        crossEntropy(fc.apply(t.reshape([t.shape[0], -1])) as tf.Tensor, y)
      )(a);
      return [a.arraySync(), g.arraySync() as number[][][][]];
    });
    const n = a.length, h = a[0].length, w = a[0][0].length;
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        let ex = 0;
        for (let p = 0; p < h; p++) for (let q = 0; q < w; q++) ex += a[i][p][q][c] * g[i][p][q][c];
        sum += perExampleAbs ? Math.abs(ex / (h * w)) : ex / (h * w);
      }
      r[c] += sum / n;
    }
  }
  return r;
}

const rng = new Rng(3);
const tinyBatches = [0, 1].map(() => ({ x: randomImages(rng, 4, 5, 5, 2), y: [0, 1, 1, 0] }));

Deno.test("taylor rank = hand-computed Σ_batches mean(a·g) at the ReLU, raw and normalised", async () => {
  const model = tinyConv();
  const ctx = contextFor(model, fixedBatches(tinyBatches, 2));
  for (const perExampleAbs of [false, true]) {
    const hand = handTaylor(model, tinyBatches, perExampleAbs);
    ok(hand.some((v) => Math.abs(v) > 1e-6), "the hand rank is not trivially zero");
    const options = { normalize: false, per_example_abs: perExampleAbs };
    await runStage(score({ scorer: "taylor", key: "raw", options, batchSize: 4 }), ctx);
    await runStage(
      score({ scorer: "taylor", key: "norm", options: { per_example_abs: perExampleAbs } }),
      ctx,
    );
    const raw = ctx.scores.get("raw")!.values;
    deepEqual([...raw.keys()], ["c1"]);
    allClose(raw.get("c1")!.arraySync() as number[], hand, { atol: 1e-5 });
    const abs = hand.map(Math.abs), norm = Math.hypot(...hand);
    allClose(
      ctx.scores.get("norm")!.values.get("c1")!.arraySync() as number[],
      abs.map((v) => v / norm),
      { atol: 1e-4 },
    );
  }
  ctx.scores.forEach((s) => s.values.forEach((t) => t.dispose()));
  model.dispose();
});

/** vggLike with filter 2 of c2_conv dead: kernel and bias zero, BN beta 0, so its ReLU output is zero. */
function withDeadFilter(): tf.LayersModel {
  const model = vggLike();
  randomizeWeights(model, 7);
  tf.tidy(() => {
    const keep = tf.tensor1d([1, 1, 0, 1, 1]);
    const conv = model.getLayer("c2_conv");
    const [k, b] = conv.getWeights(); // the variables' own values: do not dispose
    conv.setWeights([k.mul(keep), b.mul(keep)]);
    for (const l of model.layers.filter((l) => l.getClassName() === "BatchNormalization")) {
      // beta 0: no live filter is cut off by its ReLU by chance, and BN maps the dead one to 0
      const [gamma, beta, mean, variance] = l.getWeights();
      l.setWeights([gamma.abs(), tf.zerosLike(beta), mean, variance]);
    }
  });
  return model;
}

Deno.test("a planted dead filter ranks lowest under taylor and l1, and is what global_lowest removes", async () => {
  const model = withDeadFilter();
  const batches = [0, 1, 2].map(() => ({
    x: randomImages(rng, 6, 8, 8, 3),
    y: [0, 1, 2, 0, 1, 2],
  }));
  const ctx = contextFor(model, fixedBatches(batches, 3));
  for (const scorer of ["taylor", "l1"]) {
    await runStage(score({ scorer, batchSize: 6 }), ctx);
    const values = ctx.scores.get(scorer)!.values;
    deepEqual([...values.keys()], ["c1_conv", "c2_conv", "c3_conv", "c4_conv"]);
    const ranks = new Map([...values].map(([id, t]) => [id, t.dataSync()]));
    const dead = ranks.get("c2_conv")![2];
    equal(dead, 0, `${scorer}: the dead filter's rank`);
    for (const [id, r] of ranks) {
      r.forEach((v, i) =>
        ok(id === "c2_conv" && i === 2 || v > dead, `${scorer}: ${id}[${i}] = ${v}`)
      );
    }
    deepEqual([...planRemovals(ranks, 1)], [["c2_conv", [2]]]);
  }
  const before = tf.tidy(() => (model.predict(tf.tensor4d(batches[0].x)) as tf.Tensor).arraySync());
  await runStage(
    mask({
      pruner: "global_lowest",
      scores: "taylor",
      budget: { remove: 1 },
    }),
    ctx,
  );
  const pruned = ctx.model!;
  equal(pruned.getLayer("c2_conv").getWeights()[0].shape[3], 4);
  // Removing a dead filter leaves the function unchanged (inference mode).
  const after = tf.tidy(() => (pruned.predict(tf.tensor4d(batches[0].x)) as tf.Tensor).arraySync());
  allClose((after as number[][]).flat(), (before as number[][]).flat(), { atol: 1e-4 });
  ctx.scores.forEach((s) => s.values.forEach((t) => t.dispose()));
  pruned.dispose();
});

Deno.test("residual groups: one score per coupled group, summed over all its ReLU points", () => {
  const model = resnetLike();
  const graph = buildChannelGraph(model);
  const groups = prunableGroups(model, "conv", graph);
  const stem = graph.group("stem_conv");
  ok(groups.includes(stem));
  deepEqual(reluPoints(model, stem).map((m) => m.layer), ["stem_relu", "a_relu"]);
  const l1 = filterL1(model, false);
  deepEqual([...l1.keys()], groups.map((g) => g.id));
  // the coupled group's L1 = stem conv's + a2 conv's filter norms
  const norm = (layer: string) =>
    tf.tidy(() =>
      tf.sum(tf.abs(model.getLayer(layer).getWeights()[0]), [0, 1, 2]).arraySync() as number[]
    );
  const [s, a2] = [norm("stem_conv"), norm("a2_conv")];
  allClose(l1.get("stem_conv")!.arraySync() as number[], s.map((v, i) => v + a2[i]), {
    atol: 1e-5,
  });
  l1.forEach((t) => t.dispose());
  model.dispose();
});

Deno.test("scoring passes do not leak tensors", async () => {
  const model = chainModel();
  const batches = [0, 1].map(() => ({ x: randomImages(rng, 4, 8, 8, 3), y: [0, 1, 2, 3] }));
  const ctx = contextFor(model, fixedBatches(batches, 5));
  await runStage(score({ scorer: "taylor", batchSize: 4 }), ctx);
  const n0 = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    await runStage(
      score({ scorer: "taylor", batchSize: 4, options: { per_example_abs: true } }),
      ctx,
    );
    await runStage(score({ scorer: "l1" }), ctx);
  }
  // l1 adds its own one stored score set
  equal(tf.memory().numTensors, n0 + ctx.scores.get("l1")!.values.size);
  ctx.scores.forEach((s) => s.values.forEach((t) => t.dispose()));
  model.dispose();
});
