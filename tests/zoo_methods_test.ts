/**
 * The methods' parts on the Keras-faithful zoo (MobileNetV2 at width 0.25,
 * ResNet-50 at width 0.125, 32x32x3 inputs): filter_taylor's Taylor ranks
 * and global_lowest, rni's SigmoidBatchNorm conversion (ResNet-50's BNs are
 * `axis: 3`, as Keras builds them), bn_scale and global_quantile, and
 * intra_fusion's l1 importance with its default and fusion pruners. Each
 * scores and prunes the real model; where the method removes channels
 * outright, the pruned model must compute what the original computes with
 * the removed channels held at zero (max abs diff <= 1e-5 on the logits, and
 * the removal must change them).
 * @module
 */
import {
  type Budget,
  buildChannelGraph,
  foldBatchNorm,
  keepCount,
  prunableGroups,
  type RunContext,
  score,
  type Scores,
  tf,
} from "@shears/core";
import { buildModel } from "@shears/models";
import { syntheticDataset } from "@shears/datasets";
import filterTaylor, { planRemovals } from "@shears/filter_taylor";
import rni, { keepMasks, toSigmoidBatchNorm } from "@shears/rni";
import intraFusion, { l1Importance, topK } from "@shears/intra_fusion";
import { allClose, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { testContext } from "./context.ts";
import { runStage } from "./filter_taylor_fixtures.ts";
import { maxAbsDiff, outputsOf, perturbStatistics, zeroedCopy } from "./prune_check.ts";

await useTestBackend();

const ZOO = [["mobilenet_v2", 0.25], ["resnet50", 0.125]] as const;
const data = syntheticDataset({ n: 16, nTest: 8, inputShape: [32, 32, 3], numClasses: 4 });

function zooModel(name: string, width: number): tf.LayersModel {
  const m = buildModel(name, { inputShape: [32, 32, 3], numClasses: 4, width, seed: 1 });
  perturbStatistics(m, 2); // no BN or bias an identity: a wrong cut shows in the logits
  return m;
}

/** Each group's scores, read. */
async function read(scores: Scores): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [id, t] of scores.values) out.set(id, await t.data() as Float32Array);
  return out;
}

/**
 * Prunes `ctx.model` with `pruner`, and checks the result against
 * `reference` (the model the pruner cuts, e.g. with BN folded) with
 * `removals` held at zero. Disposes the pruned model (the caller, `reference`
 * if the pruner leaves it).
 */
async function checkPrune(
  ctx: RunContext,
  reference: tf.LayersModel,
  removals: Map<string, number[]>,
  prune: () => unknown,
): Promise<void> {
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 3);
  const removed = [...removals.values()].reduce((s, r) => s + r.length, 0);
  ok(removed > 0, `${reference.name}: the method removes something`);
  const zeroed = zeroedCopy(reference, buildChannelGraph(reference), removals);
  const [original, want] = [await outputsOf(reference, x), await outputsOf(zeroed, x)];
  await prune();
  const got = await outputsOf(ctx.model!, x);
  const diff = maxAbsDiff(got, want), change = maxAbsDiff(got, original);
  ok(diff <= 1e-5, `${reference.name}: pruned differs from the zeroed original by ${diff}`);
  ok(change > 1e-4, `${reference.name}: removing ${removed} channels changed nothing`);
  x.dispose();
  zeroed.dispose();
  ctx.model!.dispose();
}

for (const [name, width] of ZOO) {
  Deno.test(`filter_taylor on ${name}: Taylor ranks over every filter group, global_lowest cuts them`, async () => {
    const model = zooModel(name, width);
    const ctx = testContext({ model, data, plugins: [filterTaylor] });
    const groups = prunableGroups(model, "conv").map((g) => g.id);
    await runStage(
      score({ scorer: "filter_taylor/taylor", batchSize: 8, groups: () => groups }),
      ctx,
    );
    const scores = ctx.scores.get("filter_taylor/taylor")!;
    equal(scores.values.size, groups.length, "every filter group ranked");
    const total = prunableGroups(model, "conv").reduce((s, g) => s + g.size, 0);
    const budget: Budget = { remove: Math.floor(total / 4) };
    const removals = planRemovals(await read(scores), budget.remove!);
    await checkPrune(
      ctx,
      model,
      removals,
      () => ctx.registry.pruner("filter_taylor/global_lowest").prune(ctx, scores, budget, {}),
    );
    tf.dispose([...scores.values.values()]);
  });

  Deno.test(`rni on ${name}: SigmoidBatchNorm over the channel axis, bn_scale, global_quantile`, async () => {
    const built = zooModel(name, width);
    const model = toSigmoidBatchNorm(built, { seed: 4 });
    built.dispose();
    perturbStatistics(model, 5);
    const ctx = testContext({ model, data, plugins: [rni] });
    await runStage(score({ scorer: "rni/bn_scale" }), ctx);
    const scores = ctx.scores.get("rni/bn_scale")!;
    ok(scores.values.size > 0, "some BN is prunable");
    const keep = keepMasks(await read(scores), 0.5, "global");
    const removals = new Map(
      [...keep].map(([id, k]) => [id, k.flatMap((on, j) => (on ? [] : [j]))]),
    );
    await checkPrune(
      ctx,
      model,
      removals,
      () => ctx.registry.pruner("rni/global_quantile").prune(ctx, scores, { keepRatio: 0.5 }, {}),
    );
    tf.dispose([...scores.values.values()]);
  });

  Deno.test(`intra_fusion on ${name}: l1 importance; default drops, fusion merges`, async () => {
    const model = zooModel(name, width);
    const ctx = testContext({ model, data, plugins: [intraFusion] });
    // three groups nearest the output, as the pipeline numbers them
    const groups = prunableGroups(model).slice(-3).map((g) => g.id);
    await runStage(score({ scorer: "intra_fusion/l1", groups: () => groups }), ctx);
    const scores = ctx.scores.get("intra_fusion/l1")!;
    const values = await read(scores);
    const removals = new Map([...values].map(([id, v]) => {
      const keep = new Set(topK(v, keepCount({ keepRatio: 0.5 }, v.length)));
      return [id, Array.from(v.keys()).filter((j) => !keep.has(j))];
    }));
    const folded = (await foldBatchNorm(model)).model; // the pruners fold BN first (no epsilon)
    await checkPrune(
      ctx,
      folded,
      removals,
      () => ctx.registry.pruner("intra_fusion/default").prune(ctx, scores, { keepRatio: 0.5 }, {}),
    );
    // fusion: same shapes as the default cut, other weights (every neuron merged into the kept)
    ctx.model = model;
    const fused = await ctx.registry.pruner("intra_fusion/fusion").prune(
      ctx,
      scores,
      { keepRatio: 0.5 },
      {},
    );
    equal(
      fused.kept,
      [...removals].reduce((s, [id, r]) => s + values.get(id)!.length - r.length, 0),
    );
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 3);
    const y = await outputsOf(ctx.model!, x);
    ok(y.every(Number.isFinite), "fused logits are finite");
    tf.dispose([x, ...scores.values.values()]);
    model.dispose();
    ctx.model!.dispose();
  });
}

Deno.test("separable convs are filters and their pointwise kernels carry intra_fusion's importance", async () => {
  const input = tf.input({ shape: [8, 8, 3], name: "input" });
  const c1 = tf.layers.conv2d({ name: "c1", filters: 4, kernelSize: 3 }).apply(input);
  const s1 = tf.layers.separableConv2d({ name: "s1", filters: 6, kernelSize: 3 }).apply(c1);
  const s2 = tf.layers.separableConv2d({ name: "s2", filters: 5, kernelSize: 1 }).apply(s1);
  const gap = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(s2);
  const y = tf.layers.dense({ name: "fc", units: 3 }).apply(gap) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: y });
  equal(prunableGroups(model, "conv").map((g) => g.id).join(), "c1,s1,s2");
  const scores = await l1Importance(model);
  const s1Scores = scores.values.get("s1");
  ok(s1Scores, "the group made by a separable conv is scored");
  // mean over kernels of per-channel L1 (s1's pointwise out-rows, s2's pointwise in-rows), / its mean
  const want = tf.tidy(() => {
    const out = model.getLayer("s1").getWeights()[1].abs().sum([0, 1, 2]);
    const inRows = model.getLayer("s2").getWeights()[1].abs().sum([0, 1, 3]);
    const imp = out.add(inRows).div(2);
    return imp.div(imp.mean());
  });
  allClose(await s1Scores.data(), await want.data());
  tf.dispose([want, ...scores.values.values()]);
  model.dispose();
});
