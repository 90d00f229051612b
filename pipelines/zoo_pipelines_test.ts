/**
 * The channel-pruning pipelines end to end on a Keras-faithful zoo model:
 * MobileNetV2 at width 1/4 on the synthetic set's 8x8 images, which the
 * pipelines zero-pad to the model's 32x32 minimum (modelFrom's rule, or
 * rni's --pad). Tiny limits: each run trains, scores, prunes and reports.
 */
import { loadModel } from "@shears/core";
import { equal, ok } from "../tests/assert.ts";
import { filterTaylorPipeline, type IterationRow } from "./filter_taylor.ts";
import { type FusionResult, intraFusionPipeline } from "./intra_fusion.ts";
import { rniPipeline, type RniResult } from "./rni.ts";
import { runInProcess, testBackend, withTempDir } from "./test_harness.ts";

const tiny = [
  "--dataset=synthetic",
  "--width=0.25",
  "--limit_train=16",
  "--limit_test=16",
  "--no-export",
  `--backend=${testBackend("wasm")}`,
  "--quiet",
];

/** The saved model takes the data's 8x8 images, padded to 32x32 in front. */
async function checkPadded(dir: string): Promise<void> {
  const m = await loadModel(`${dir}/model`);
  equal(m.inputs[0].shape.join(), ",8,8,3");
  equal(m.getLayer("input_pad").getClassName(), "ZeroPadding2D");
  m.dispose();
}

Deno.test("filter_taylor on mobilenet_v2: Taylor filter groups cut for real", () =>
  withTempDir(async (dir) => {
    const { report, model } = await runInProcess<{ iterations: IterationRow[] }>(
      filterTaylorPipeline,
      [
        ...tiny,
        "--model=mobilenet_v2",
        "--batch_size=16",
        "--pretrain_epochs=1",
        "--filters_per_iteration=40",
        "--iterations=1",
        "--finetune_epochs=0",
        "--final_epochs=0",
        "--latency_batch=2",
      ],
      dir,
    );
    const [base, last] = [report.iterations[0], report.iterations.at(-1)!];
    equal(base.filters - last.filters, 40);
    ok(last.macs < base.macs && last.params < base.params, "smaller");
    model.dispose();
    await checkPadded(dir);
  }));

Deno.test("intra_fusion on mobilenet_v2: default and fusion at one group, one sparsity", () =>
  withTempDir(async (dir) => {
    const { report, model } = await runInProcess<{ results: FusionResult[] }>(
      intraFusionPipeline,
      [
        ...tiny,
        ...["--model=mobilenet_v2", "--pad=0", "--epochs=1", "--group_idxs=0", "--sparsities=0.5"],
      ],
      dir,
    );
    equal(report.results.length, 1);
    for (const r of report.results) ok(r.kept < r.channels, `${r.group_id}: pruned`);
    ok(report.results.every((r) => Number.isFinite(r.fusion_top1)));
    model.dispose();
    await checkPadded(dir);
  }));

Deno.test("rni on mobilenet_v2: SigmoidBatchNorm training, BN-scale pruning", () =>
  withTempDir(async (dir) => {
    const { report, model } = await runInProcess<{ results: RniResult[] }>(
      rniPipeline,
      [
        ...tiny,
        ...[
          "--arch=mobilenet_v2",
          "--pad=12",
          "--epochs=1",
          "--finetune_epochs=0",
          "--prune_pc=0.5",
        ],
      ],
      dir,
    );
    equal(report.results.map((r) => r.prune_pc).join(), "0.5");
    for (const r of report.results) ok(r.channels_kept < r.channels_total, "pruned");
    ok(model.layers.some((l) => l.getClassName() === "SigmoidBatchNorm"));
    model.dispose();
    await checkPadded(dir);
  }));
