/**
 * The example plugins compute what their docs say (filter_norm: Lp norms of
 * each channel's filters, summed over coupled convs, jitter from the run's
 * rng; activation_gradient: mean |x * dx| through taps), and the score
 * stage holds channel scorers to the groups it asks for: a missing or an
 * invented group id is one line naming it.
 */
import {
  buildChannelGraph,
  checkChannelScores,
  isUserFacing,
  MaskedReLU,
  prunableGroups,
  Rng,
  score,
  tf,
} from "@shears/core";
import filterNorm from "../examples/filter_norm.ts";
import activationGradient from "../examples/activation_gradient.ts";
import { allClose, deepEqual, match, notEqual, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { randomizeWeights, resnetLike } from "./channel_models.ts";
import { fixedBatches, randomImages, runStage } from "./filter_taylor_fixtures.ts";
import { testContext } from "./context.ts";

await useTestBackend();

Deno.test("filter_norm/lp: the Lp norm of each channel's filters, keyed by group id", async () => {
  const model = resnetLike();
  randomizeWeights(model, 3);
  const rng = new Rng(1);
  const ctx = testContext({
    model,
    plugins: [filterNorm],
    data: fixedBatches([{ x: randomImages(rng, 2, 8, 8, 3), y: [0, 1] }], 3),
  });
  const ids = prunableGroups(model, "conv").map((g) => g.id);
  await runStage(score({ scorer: "lp", options: { p: 1 }, groups: () => ids, key: "s" }), ctx);
  const scores = ctx.scores.get("s")!;
  deepEqual([...scores.values.keys()], ids);
  // the stem's group couples stem_conv and a2_conv (residual add): their L1 norms add up
  const l1 = (layer: string) =>
    Array.from(
      tf.tidy(() => model.getLayer(layer).getWeights()[0].abs().sum([0, 1, 2])).dataSync(),
    );
  const [stem, a2] = [l1("stem_conv"), l1("a2_conv")];
  allClose(await scores.values.get("stem_conv")!.data(), stem.map((v, i) => v + a2[i]), {
    rtol: 1e-5,
  });
  // seeded jitter: the same seed gives the same scores, another seed others
  const jittered = async (seed: number) => {
    const c = testContext({ model, plugins: [filterNorm], seed });
    const s = await filterNorm.scorers!.lp.start(c, { jitter: 0.5 }, { groups: ["b1_conv"] })
      .scores();
    const v = Array.from(await s.values.get("b1_conv")!.data());
    s.values.forEach((t) => t.dispose());
    return v;
  };
  deepEqual(await jittered(4), await jittered(4));
  notEqual((await jittered(4)).join(), (await jittered(5)).join());
  ctx.scores.forEach((s) => s.values.forEach((t) => t.dispose()));
  model.dispose();
});

Deno.test("a channels scorer that misses or invents group ids is one line naming them", () => {
  const model = resnetLike();
  const graph = buildChannelGraph(model);
  const values = (ids: string[]) =>
    new Map(ids.map((id) => [id, tf.zeros([graph.group(id).size ?? 1])]));
  const bad = (ids: Map<string, tf.Tensor>, want: string[], re: RegExp) =>
    throws(
      () => checkChannelScores("my/scorer", { target: "channels", values: ids }, model, want),
      (e: Error) => {
        ok(isUserFacing(e) && !e.message.includes("\n"), e.message);
        match(e.message, re);
        return true;
      },
    );
  bad(
    values(["stem_conv"]),
    ["stem_conv", "b1_conv"],
    /^scorer my\/scorer gave no scores for channel groups b1_conv \(scores are keyed by group id; the model's groups: stem_conv, /,
  );
  const invented = new Map([["conv99", tf.zeros([4])]]);
  bad(invented, ["stem_conv"], /scores channel groups the model does not have: conv99/);
  bad(
    new Map([["stem_conv", tf.zeros([3])]]),
    ["stem_conv"],
    /gave 3 scores for group stem_conv of 4 channels/,
  );
  // extra groups the run does not prune are dropped (and freed)
  const before = tf.memory().numTensors;
  const kept = checkChannelScores(
    "my/scorer",
    { target: "channels", values: values(["stem_conv", "b1_conv"]) },
    model,
    ["b1_conv"],
  );
  deepEqual([...kept.values.keys()], ["b1_conv"]);
  kept.values.forEach((t) => t.dispose());
  ok(tf.memory().numTensors <= before, "the dropped scores are disposed");
  model.dispose();
});

Deno.test("activation_gradient/xg: mean over batches of mean_batch |x * dx| at each MaskedReLU", async () => {
  const input = tf.input({ shape: [3] });
  const h = tf.layers.dense({
    units: 4,
    name: "fc1",
    kernelInitializer: tf.initializers.randomNormal({ seed: 1 }),
  })
    .apply(input) as tf.SymbolicTensor;
  const r = new MaskedReLU({ name: "r1" }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({
    units: 2,
    name: "fc2",
    kernelInitializer: tf.initializers.randomNormal({ seed: 2 }),
  })
    .apply(r) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const xs = [[[1, -2, 0.5], [0.3, 0.1, -1]], [[2, 1, 1], [-1, -1, 0]]];
  const ys = [[0, 1], [1, 0]];
  const data = {
    name: "fixed",
    inputShape: [3],
    numClasses: 2,
    size: () => 4,
    *batches() {
      for (const [i, x] of xs.entries()) {
        yield { x: tf.tensor2d(x), y: tf.tensor1d(ys[i], "int32") };
      }
    },
  };
  const ctx = testContext({ model, data, plugins: [activationGradient] });
  await runStage(score({ scorer: "xg", batches: 2, batchSize: 2, key: "s" }), ctx);
  // by hand: x = fc1(input), dx = dL/dx through the ReLU and fc2 (mean cross-entropy of the batch)
  const want = tf.tidy(() => {
    const [w1, b1] = model.getLayer("fc1").getWeights(),
      [w2, b2] = model.getLayer("fc2").getWeights();
    let sum = tf.zeros([4]);
    for (const [i, x] of xs.entries()) {
      const pre = tf.tensor2d(x).matMul(w1).add(b1);
      const dx = tf.grad((p: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(
          tf.oneHot(tf.tensor1d(ys[i], "int32"), 2),
          p.relu().matMul(w2).add(b2),
        )
      )(pre);
      sum = sum.add(pre.mul(dx).abs().mean(0));
    }
    return sum.div(2);
  });
  allClose(await ctx.scores.get("s")!.values.get("r1")!.data(), await want.data(), {
    rtol: 1e-4,
    atol: 1e-7,
  });
  want.dispose();
  ctx.scores.forEach((s) => s.values.forEach((t) => t.dispose()));
  model.dispose();
});
