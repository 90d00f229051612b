/**
 * End-to-end smoke tests of pipelines/rni.ts through runPipeline, on a
 * VGG-11-BN of width 1/16 trained for one epoch on 64 embedded MNIST digits
 * (two epochs on 512 where the trained accuracy is checked).
 */
import { loadModel, runPipeline, saveModel, UsageError } from "@shears/core";
import { buildModel } from "@shears/models";
import { SigmoidBatchNorm } from "@shears/rni";
import { deepEqual, equal, ok, rejects } from "../tests/assert.ts";
import { rniPipeline, type RniResult } from "./rni.ts";
import { validate } from "./validate.ts";
import { runInProcess, testBackend, withTempDir } from "./test_harness.ts";

const backend = testBackend("wasm"); // the cpu backend is slow for convs
const small = [
  "--width=0.0625",
  "--limit_train=64",
  "--limit_test=32",
  "--epochs=1",
  "--batch_size=32",
  `--backend=${backend}`,
  "--quiet",
];

interface Report {
  status: string;
  results: RniResult[];
  importances: { count: number };
}

/**
 * Runs the pipeline on `small` + `args`; checks its plot and saved model (and
 * `then`, given the run dir and report), returns its report.
 */
function run(
  args: string[],
  then?: (dir: string, report: Report) => Promise<void>,
): Promise<Report> {
  return withTempDir(async (dir) => {
    const { report, model } = await runInProcess<Report>(rniPipeline, [...small, ...args], dir);
    model.dispose();
    ok((await Deno.readTextFile(`${dir}/bn_importance.svg`)).startsWith("<svg"), "histogram SVG");
    const saved = await loadModel(`${dir}/model`);
    const sig = saved.layers.some((l) => l instanceof SigmoidBatchNorm);
    equal(sig, args.includes("--method=rni"), "saved model keeps its BN kind");
    saved.dispose();
    await then?.(dir, report);
    return report;
  });
}

Deno.test("rni pipeline: rni at 50% and 90%, pruned + fine-tuned, report.json results", async () => {
  // 32 training steps (512 digits, 2 epochs): enough to beat chance (0.1) clearly
  const train = ["--limit_train=512", "--epochs=2"];
  const r = await run(["--method=rni", "--prune_pc=0.5,0.9", "--finetune_epochs=1", ...train]);
  equal(r.status, "completed");
  deepEqual(r.results.map((x) => [x.method, x.prune_pc]), [["rni", 0.5], ["rni", 0.9]]);
  equal(r.importances.count, r.results[0].channels_total);
  for (const x of r.results) {
    for (const k of ["trained_top1", "pruned_top1", "finetuned_top1"] as const) {
      ok(x[k]! >= 0 && x[k]! <= 1, `${k} ${x[k]}`);
    }
    ok(x.channels_kept >= 3 * 8, "at least 3 channels in each of the 8 BNs");
  }
  const [a, b] = r.results;
  ok(a.trained_top1 >= 0.3, `trained top-1 ${a.trained_top1}`);
  equal(a.trained_top1, b.trained_top1);
  ok(b.channels_kept < a.channels_kept && b.params < a.params && b.macs < a.macs, "90% is smaller");
});

Deno.test("rni pipeline: l1 baseline without fine-tuning; bad flags are one-line usage errors", async () => {
  // the saved model takes the dataset's images (it pads inside): validate needs no --pad
  const r = await run(["--method=l1", "--prune_pc=0.5", "--finetune_epochs=0"], async (dir, r) => {
    const args = ["--path", `${dir}/model`, "--limit_test=32", `--backend=${backend}`, "--quiet"];
    const { report: v, model } = await runInProcess<{ top1: number }>(validate, args, `${dir}/val`);
    deepEqual(model.inputs[0].shape, [null, 28, 28, 1]);
    model.dispose();
    equal(v.top1, r.results[0].pruned_top1);
    // a model saved before rni padded inside takes 32x32: validate --pad 2 still evaluates it
    const old = buildModel("vgg11_bn", { inputShape: [32, 32, 1], numClasses: 10, width: 0.0625 });
    await saveModel(old, `${dir}/old`);
    old.dispose();
    const oldArgs = ["--path", `${dir}/old`, "--limit_test=32", `--backend=${backend}`, "--quiet"];
    await rejects(() => runPipeline(validate, oldArgs), UsageError, "unpadded data: a clear error");
    const { model: padded } = await runInProcess(validate, [...oldArgs, "--pad=2"], `${dir}/val2`);
    deepEqual(padded.inputs[0].shape, [null, 28, 28, 1]);
    padded.dispose();
  });
  equal(r.results.length, 1);
  equal(r.results[0].finetuned_top1, null);
  await rejects(() => runPipeline(rniPipeline, ["--method=slim", "--quiet"]), UsageError);
  await rejects(() => runPipeline(rniPipeline, ["--prune_pc=1", "--quiet"]), UsageError);
});
