/**
 * examples/structural_prune.ts: the lowest-L1 channels of every group go,
 * and the script runs as its doc prints it (and fails as a user expects).
 * @module
 */
import { buildChannelGraph, loadModel, producerKernels, tf } from "@shears/core";
import { buildModel } from "@shears/models";
import { l1Removals } from "../examples/structural_prune.ts";
import { equal, match, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { oneLineError, runDeno } from "./subprocess.ts";

await useTestBackend();

Deno.test("l1Removals takes the lowest-L1 share of every prunable group", async () => {
  const model = buildModel("mobilenet_v2", { inputShape: [32, 32, 3], numClasses: 4, width: 0.35 });
  const graph = buildChannelGraph(model);
  const removals = await l1Removals(model, graph, 0.25);
  for (const g of graph.groups.filter((g) => g.prunable)) {
    const drop = new Set(removals.get(g.id) ?? []);
    equal(drop.size, Math.floor(0.25 * g.size), g.id);
    const norms = tf.tidy(() => tf.addN(producerKernels(model, g).map((k) => k.abs().sum(1))));
    const l1 = await norms.data();
    norms.dispose();
    const kept = [...l1.keys()].filter((j) => !drop.has(j));
    ok([...drop].every((j) => kept.every((k) => l1[j] <= l1[k])), `${g.id}: lowest L1 removed`);
  }
  model.dispose();
});

Deno.test("examples/structural_prune.ts saves base and pruned models; bad flags are one line", async () => {
  const out = await Deno.makeTempDir({ prefix: "shears_prune_" });
  try {
    const script = "examples/structural_prune.ts";
    const flags = ["--model", "resnet50", "--input_shape", "32,32,3", "--width", "0.125"];
    const run = await runDeno(["run", "-A", script, ...flags, "--remove", "0.5", "--out", out]);
    equal(run.code, 0, run.stderr);
    match(run.stdout, /\/pruned: \d+ parameters, \d+ MACs/);
    const [base, pruned] = [await loadModel(`${out}/base`), await loadModel(`${out}/pruned`)];
    ok(pruned.countParams() < base.countParams() / 2.5, "about a quarter of the weights left");
    base.dispose();
    pruned.dispose();
    const bad = await runDeno(["run", "-A", script, "--model", "inception_v3", "--out", out]);
    equal(
      oneLineError(bad),
      "error: inception_v3: inputShape spatial sides must be >= 75, got [64,64,3]",
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
