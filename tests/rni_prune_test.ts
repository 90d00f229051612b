import { buildChannelGraph, rewriteLayers, Rng, type RunContext, tf } from "@shears/core";
import { buildModel } from "@shears/models";
import rni, {
  bnScaleScores,
  keepMasks,
  prunableBatchNorms,
  quantile,
  SigmoidBatchNorm,
  toSigmoidBatchNorm,
} from "@shears/rni";
import { allClose, deepEqual, equal, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { testContext } from "./context.ts";

await useTestBackend();

function ctxWith(model: tf.LayersModel): RunContext {
  return testContext({ model, plugins: [rni] });
}

Deno.test("quantile interpolates linearly like numpy.quantile", () => {
  const v = [5, 1, 4, 2, 3];
  equal(quantile(v, 0), 1);
  equal(quantile(v, 1), 5);
  equal(quantile(v, 0.5), 3);
  allClose([quantile(v, 0.9)], [4.6]); // pos 3.6 -> 4 + 0.6
  allClose([quantile([0.1, 0.9], 0.25)], [0.3]);
  throws(() => quantile([], 0.5), /no values/);
});

Deno.test("global vs local thresholds, keep strictly above, and the >= 3 rule", () => {
  const scores = new Map([
    ["a", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]],
    ["b", [0.91, 0.92, 0.93, 0.94, 0.95, 0.96]],
  ]);
  // global 50%: threshold = quantile of all 12 = (0.6 + 0.91)/2 = 0.755 -> all of b, none of a ...
  const g = keepMasks(scores, 0.5, "global");
  deepEqual(g.get("b"), [true, true, true, true, true, true]);
  // ... but a keeps its best 3
  deepEqual(g.get("a"), [false, false, false, true, true, true]);
  // local 50%: each layer's own median: keep the top half of each
  const l = keepMasks(scores, 0.5, "local");
  deepEqual(l.get("a"), [false, false, false, true, true, true]);
  deepEqual(l.get("b"), [false, false, false, true, true, true]);
  // global 25%: threshold = quantile at pos 2.75 = 0.3 + 0.75·0.1 = 0.375
  deepEqual(keepMasks(scores, 0.25, "global").get("a"), [false, false, false, true, true, true]);
  // global 15%: pos 1.65 -> 0.2 + 0.65·0.1 = 0.265
  deepEqual(keepMasks(scores, 0.15, "global").get("a"), [false, false, true, true, true, true]);
  // ties at the top still keep 3; a layer of 2 keeps both; minChannels is an option
  deepEqual(keepMasks(new Map([["t", [1, 1, 1, 1, 1]]]), 0.9, "local").get("t"), [
    true,
    true,
    true,
    false,
    false,
  ]);
  deepEqual(keepMasks(new Map([["s", [0.1, 0.2]], ["x", [9, 9, 9, 9]]]), 0.5, "global").get("s"), [
    true,
    true,
  ]);
  deepEqual(keepMasks(new Map([["a", scores.get("a")!]]), 0.9, "local", 1).get("a"), [
    false,
    false,
    false,
    false,
    false,
    true,
  ]);
  throws(() => keepMasks(scores, 1, "global"), /\[0, 1\)/);
});

Deno.test("prunable BNs: all of VGG, each block's first BN of a ResNet (stem, bn2 excluded)", () => {
  const vgg = buildModel("vgg11_bn", { inputShape: [32, 32, 1], numClasses: 3, width: 0.125 });
  deepEqual(
    prunableBatchNorms(vgg).map((b) => b.layer),
    Array.from({ length: 8 }, (_, i) => `features_bn${i + 1}`),
  );
  const res = buildModel("resnet20", { inputShape: [8, 8, 3], numClasses: 3, width: 0.25 });
  const names = prunableBatchNorms(res).map((b) => b.layer);
  equal(names.length, 9);
  ok(names.every((n) => /^layer\d_\d_bn1$/.test(n)), names.join());
  throws(
    () => prunableBatchNorms(res, undefined, ["layer1_0_bn2"]),
    /cannot be pruned: .* batch norms/,
  );
  throws(() => prunableBatchNorms(res, undefined, ["nope"]), /no batch norm layer 'nope'/);
  vgg.dispose();
  res.dispose();
});

Deno.test("bn_scale scores: sigmoid(θ) on SigBN, |γ| on BN, keyed by group id", () => {
  const base = buildModel("vgg11_bn", {
    inputShape: [32, 32, 1],
    numClasses: 3,
    width: 0.125,
    bnGammaInit: 0.5,
  });
  const bn2 = base.getLayer("features_bn2");
  bn2.weights[0].write(tf.linspace(-1, 1, bn2.weights[0].shape[0]!));
  const s = bnScaleScores(base);
  equal(s.target, "channels");
  deepEqual([...s.values.keys()], Array.from({ length: 8 }, (_, i) => `features_conv${i + 1}`));
  allClose(
    s.values.get("features_conv2")!.dataSync(),
    Array.from(bn2.weights[0].read().dataSync(), Math.abs),
  );
  const sig = toSigmoidBatchNorm(base, { seed: 0 });
  const ss = bnScaleScores(sig);
  const theta = (sig.getLayer("features_bn5") as SigmoidBatchNorm).theta.read().dataSync();
  allClose(
    ss.values.get("features_conv5")!.dataSync(),
    Array.from(theta, (t) => 1 / (1 + Math.exp(-t))),
  );
  [...s.values.values(), ...ss.values.values()].forEach((t) => t.dispose());
  base.dispose();
  sig.dispose();
});

/** A copy of `model` (SigBN) with the thetas of the channels to drop at -1e9: scale exactly 0. */
function maskedCopy(model: tf.LayersModel, keep: Map<string, boolean[]>): tf.LayersModel {
  const copy = rewriteLayers(model, (s) => s);
  const graph = buildChannelGraph(copy);
  for (const bn of prunableBatchNorms(copy, graph)) {
    const k = keep.get(bn.group.id)!;
    const layer = copy.getLayer(bn.layer) as SigmoidBatchNorm;
    const t = Array.from(layer.theta.read().dataSync());
    k.forEach((on, j) => {
      if (!on) t[bn.index[j]] = -1e9;
    });
    layer.theta.write(tf.tensor1d(t));
  }
  return copy;
}

for (
  const [arch, shape, pruner] of [
    ["vgg11_bn", [32, 32, 1], "global_quantile"],
    ["resnet20", [8, 8, 3], "local_quantile"],
  ] as const
) {
  Deno.test(`pruning a SigmoidBN ${arch} (${pruner}) = the model with those channels' scales at 0`, async () => {
    const base = buildModel(arch, { inputShape: [...shape], numClasses: 4, width: 0.25, seed: 4 });
    const model = toSigmoidBatchNorm(base, { seed: 5 });
    // non-trivial moving statistics
    const rng = new Rng(9);
    for (const l of model.layers.filter((l) => l instanceof SigmoidBatchNorm)) {
      const [, mm, mv] = l.weights;
      const n = mm.shape[0]!;
      mm.write(tf.tensor1d(Array.from({ length: n }, () => rng.normal() * 0.1)));
      mv.write(tf.tensor1d(Array.from({ length: n }, () => 0.5 + rng.next())));
    }
    const ctx = ctxWith(model);
    const scores = await ctx.registry.scorer("bn_scale").start(ctx, {}).scores();
    const values = new Map(
      [...scores.values].map(([k, t]) => [k, t.dataSync() as Float32Array] as const),
    );
    const scope = pruner === "global_quantile" ? "global" : "local";
    const keep = keepMasks(values, 0.6, scope);
    const masked = maskedCopy(model, keep);
    const res = await ctx.registry.pruner(pruner).prune(ctx, scores, { keepRatio: 0.4 }, {});
    const pruned = ctx.model!;
    ok(pruned !== model, "a new model");
    const keptCount = [...keep.values()].flat().filter(Boolean).length;
    equal(res.kept, keptCount);
    equal(res.total, [...keep.values()].flat().length);
    ok(res.kept < res.total && res.perLayer.every((r) => r.after >= 3));
    for (const bn of prunableBatchNorms(model)) {
      const after = (pruned.getLayer(bn.layer) as SigmoidBatchNorm).theta.shape[0];
      equal(after, keep.get(bn.group.id)!.filter(Boolean).length, bn.layer);
    }
    const x = tf.randomNormal([3, ...shape], 0, 1, "float32", 11);
    const yp = pruned.predict(x) as tf.Tensor, ym = masked.predict(x) as tf.Tensor;
    allClose(yp.dataSync(), ym.dataSync(), { rtol: 1e-4, atol: 1e-5 }, "pruned = masked");
    ok(model.predict(x) instanceof tf.Tensor, "the old model is still usable");
    tf.dispose([x, yp, ym]);
    scores.values.forEach((t) => t.dispose());
    [base, model, masked, pruned].forEach((m) => m.dispose());
  });
}
