/**
 * How each pruner turns a keep ratio into a unit count when ratio × total is
 * not a whole number, through the registry's pruners (the parts a pipeline
 * uses) and counted from what the pruner left in the model (masks, layer
 * shapes, zero weights), not from the numbers it reports:
 *
 * - relu_taylor/global_topk keeps k = max(1, floor(N · keep));
 * - filter_taylor/global_lowest removes N − ceil(N · keep) filters;
 * - intra_fusion/fusion and /default keep floor(C · keep) channels, at least 1;
 * - magnitude/global given only a keep ratio prunes 1 − keep: floor((1 − keep) · N) weights.
 *
 * The ratios are chosen so that floor, round and ceil give three different
 * answers where they can.
 */
import {
  activationMaskLayers,
  type Budget,
  type Registry,
  type RunContext,
  type Scores,
  tf,
} from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import filterTaylor from "@shears/filter_taylor";
import intraFusion from "@shears/intra_fusion";
import magnitude from "@shears/magnitude";
import { equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { testContext } from "./context.ts";
import { tinyModel } from "./relu_taylor_fixtures.ts";
import { TINY_CONVS, tinyResNet } from "./magnitude_fixtures.ts";

await useTestBackend();

type ST = tf.SymbolicTensor;

/** Scores from the registry's scorer `name` (a weights-only scorer: no batches). */
async function scoresFrom(ctx: RunContext, name: string): Promise<Scores> {
  const session = ctx.registry.scorer(name).start(ctx, {});
  try {
    return await session.scores();
  } finally {
    session.dispose();
  }
}

/** Runs `pruner` of `ctx.registry` on `scores` with `budget`. */
async function prune(ctx: RunContext, pruner: string, scores: Scores, budget: Budget) {
  await (ctx.registry as Registry).pruner(pruner).prune(ctx, scores, budget, {});
}

Deno.test("relu_taylor/global_topk keeps max(1, floor(N · keep)) ReLUs, counted from the masks", async () => {
  const model = tinyModel(); // 12 ReLU elements in 3 MaskedReLU layers
  const ctx = testContext({ model, plugins: [reluTaylor] });
  const scores: Scores = {
    target: "activations",
    values: new Map(
      activationMaskLayers(model).map((l, i) => {
        const shape = l.mask.shape as number[];
        const n = shape.reduce((a, b) => a * b, 1);
        return [l.name, tf.tensor(Array.from({ length: n }, (_, j) => 10 * i + j + 1), shape)];
      }),
    ),
  };
  const active = async () => {
    let n = 0;
    for (const l of activationMaskLayers(model)) {
      for (const v of await l.mask.read().data()) n += v;
    }
    return n;
  };
  // 12·0.3 = 3.6 (floor 3, round 4); 12·0.2 = 2.4 (floor 2, ceil 3); 12·0.05 = 0.6 (at least 1)
  for (const [keepRatio, want] of [[0.3, 3], [0.2, 2], [0.05, 1], [0.5, 6]]) {
    await prune(ctx, "relu_taylor/global_topk", scores, { keepRatio });
    equal(await active(), want, `keep ${keepRatio} of 12`);
  }
  scores.values.forEach((t) => t.dispose());
  model.dispose();
});

/** input 4x4x2 -> conv a (3) -> relu -> conv b (4) -> relu -> GAP -> dense 2: 7 filters. */
function sevenFilters(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2] });
  const conv = (x: ST, name: string, filters: number, seed: number) =>
    tf.layers.conv2d({
      name,
      filters,
      kernelSize: 3,
      padding: "same",
      kernelInitializer: tf.initializers.glorotNormal({ seed }),
    }).apply(x) as ST;
  let x = tf.layers.reLU().apply(conv(input, "a", 3, 1)) as ST;
  x = tf.layers.reLU().apply(conv(x, "b", 4, 2)) as ST;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as ST;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(x) as ST });
}

Deno.test("filter_taylor/global_lowest removes N − ceil(N · keep) filters, counted in the new model", async () => {
  // 7·0.3 = 2.1: keep ceil 3, remove 4 (floor would keep 2, remove 5; neither empties a layer)
  // 7·0.5 = 3.5: keep 4, remove 3; 7·0.9 = 6.3: keep 7, remove nothing
  for (const [keepRatio, kept] of [[0.3, 3], [0.5, 4], [0.9, 7]]) {
    const ctx = testContext({ model: sevenFilters(), plugins: [filterTaylor] });
    const scores = await scoresFrom(ctx, "filter_taylor/l1");
    await prune(ctx, "filter_taylor/global_lowest", scores, { keepRatio });
    const filters = ["a", "b"].map((n) => ctx.model!.getLayer(n).getWeights()[0].shape[3]!);
    equal(filters[0] + filters[1], kept, `keep ${keepRatio} of 7: [${filters}]`);
    scores.values.forEach((t) => t.dispose());
    ctx.model!.dispose(); // global_lowest disposed the model it replaced
  }
});

/** input(3) -> dense hidden (`units`) -> relu -> dense out (2), seeded. */
function hiddenUnits(units: number): tf.LayersModel {
  const input = tf.input({ shape: [3] });
  const dense = (x: ST, name: string, units: number, seed: number) =>
    tf.layers.dense({
      name,
      units,
      kernelInitializer: tf.initializers.glorotNormal({ seed }),
    }).apply(x) as ST;
  const h = tf.layers.reLU().apply(dense(input, "hidden", units, 3)) as ST;
  return tf.model({ inputs: input, outputs: dense(h, "out", 2, 4) });
}

Deno.test("intra_fusion/fusion and /default keep floor(C · keep) channels, at least 1", async () => {
  // 7·0.3 = 2.1 -> 2 (ceil 3); 7·0.5 = 3.5 -> 3 (round 4); 7·0.1 = 0.7 -> 1; and sparsity
  // 0.8 of 10 as the pipeline asks for it: 10·(1 - 0.8) = 1.9999999999999996 -> 2
  const cases = [[7, 0.3, 2], [7, 0.5, 3], [7, 0.1, 1], [10, 1 - 0.8, 2]];
  for (const pruner of ["intra_fusion/fusion", "intra_fusion/default"]) {
    for (const [units, keepRatio, kept] of cases) {
      const base = hiddenUnits(units);
      const ctx = testContext({ model: base, plugins: [intraFusion] });
      const scores = await scoresFrom(ctx, "intra_fusion/l1");
      await prune(ctx, pruner, scores, { keepRatio });
      const got = ctx.model!.getLayer("hidden").getWeights()[0].shape[1];
      equal(got, kept, `${pruner}: keep ${keepRatio} of ${units}`);
      equal(ctx.model!.getLayer("out").getWeights()[0].shape[0], kept, "next layer's inputs");
      scores.values.forEach((t) => t.dispose());
      ctx.model!.dispose();
      base.dispose();
    }
  }
});

Deno.test("magnitude/global given only a keep ratio prunes floor((1 − keep) · N) conv weights", async () => {
  const model = tinyResNet(); // 312 conv weights over 3 kernels, no two magnitudes equal
  const ctx = testContext({ model, plugins: [magnitude] });
  const zeros = async () => {
    let n = 0;
    for (const name of TINY_CONVS) {
      const w = model.weights.find((v) => v.originalName === name)!;
      for (const v of await w.read().data()) if (v === 0) n++;
    }
    return n;
  };
  equal(await zeros(), 0);
  // 0.65·312 = 202.8: floor 202, round and ceil 203; pruning the keep ratio itself would give 109
  const scores = await scoresFrom(ctx, "magnitude/abs");
  await prune(ctx, "magnitude/global", scores, { keepRatio: 0.35 });
  equal(await zeros(), 202);
  ctx.masks.restore(model);
  await prune(ctx, "magnitude/global", scores, { keepRatio: 0.3 }); // 0.7·312 = 218.4
  equal(await zeros(), 218);
  scores.values.forEach((t) => t.dispose());
  ctx.masks.dispose();
  model.dispose();
});
