/**
 * The model suite (as Torch-Pruning's test over torchvision): every
 * architecture people prune, built at small width and input, loses half of
 * every prunable channel group; the smaller model must compute what the
 * original computes with those channels held at zero (max abs difference
 * <= 1e-5 on the logits) and differ from the original (so the check can
 * fail); then it is deployed (`inferenceModel`: BN folded, activations
 * fused; same logits), saved, and loaded back with plain tfjs
 * (`tf.loadLayersModel` on the files, through `tf.io.browserFiles`) with the
 * same logits.
 * @module
 */
import { buildChannelGraph, inferenceModel, saveModel, tf } from "@shears/core";
import { type AnyModelOptions, buildModel } from "@shears/models";
import { equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { checkRemoval, maxAbsDiff, outputsOf, perturbStatistics } from "./prune_check.ts";

await useTestBackend();

/** Loads a saved model directory with tfjs alone, as a browser would from two files. */
async function loadPlain(dir: string): Promise<tf.LayersModel> {
  const file = async (name: string) => new File([await Deno.readFile(`${dir}/${name}`)], name);
  return await tf.loadLayersModel(
    tf.io.browserFiles([await file("model.json"), await file("weights.bin")]),
  );
}

type Case = [name: string, opts: Partial<AnyModelOptions> & { inputShape: number[] }];

const CASES: Case[] = [
  ["mobilenet_v1", { inputShape: [32, 32, 3], width: 0.25 }],
  ["mobilenet_v2", { inputShape: [32, 32, 3], width: 0.35 }],
  ["mobilenet_v3_small", { inputShape: [32, 32, 3], width: 0.5 }],
  ["resnet50", { inputShape: [32, 32, 3], width: 0.125 }],
  ["se_resnet50", { inputShape: [32, 32, 3], width: 0.125 }],
  ["densenet121", { inputShape: [32, 32, 3], width: 0.125 }],
  ["inception_v3", { inputShape: [75, 75, 3], width: 0.125 }],
  ["xception", { inputShape: [71, 71, 3], width: 0.0625 }],
  ["efficientnet_b0", { inputShape: [32, 32, 3], width: 0.25 }],
  ["unet", { inputShape: [32, 32, 3], width: 0.0625 }],
  ["unet", { inputShape: [16, 16, 1], width: 0.0625, up: "upsample", batchNorm: true }],
  ["text_cnn", { inputShape: [12], width: 0.1, vocabSize: 100 }],
];

for (const [name, opts] of CASES) {
  const label = `${name}${opts.up ? ` (${opts.up}, BN)` : ""}`;
  Deno.test(`${label}: half of every group removed = zeroed original; deploys; reloads in plain tfjs`, async () => {
    const before = tf.memory().numTensors;
    const model = buildModel(name, { numClasses: 5, seed: 1, ...opts });
    perturbStatistics(model, 2);
    const shape = [2, ...opts.inputShape];
    const x = name === "text_cnn"
      ? tf.randomUniform(shape, 0, 100, "int32", 3)
      : tf.randomNormal(shape, 0, 1, "float32", 3);
    const graph = buildChannelGraph(model);
    // Only the input and the classifier (model output) stay whole.
    equal(graph.groups.filter((g) => !g.prunable).length, 2, "unprunable groups");
    const { pruned, removed } = await checkRemoval(model, x, { graph, atol: 1e-5 });
    ok(removed * 3 > graph.groups.filter((g) => g.prunable).reduce((s, g) => s + g.size, 0));
    const want = await outputsOf(pruned, x);
    const deployed = await inferenceModel(pruned);
    ok(maxAbsDiff(await outputsOf(deployed, x), want) <= 1e-5, "deployed logits");
    const dir = await Deno.makeTempDir({ prefix: "shears_zoo_" });
    try {
      await saveModel(deployed, dir);
      const loaded = await loadPlain(dir);
      equal(maxAbsDiff(await outputsOf(loaded, x), await outputsOf(deployed, x)), 0, "reloaded");
      loaded.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    for (const m of [model, pruned, deployed]) m.dispose();
    x.dispose();
    equal(tf.memory().numTensors, before, "tensors leaked");
  });
}
