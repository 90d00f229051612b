/**
 * End-to-end smoke tests of pipelines/filter_taylor.ts through runPipeline,
 * on tiny synthetic data and a VGG-11-BN at width 1/16 (8x8 inputs padded
 * to 32x32 inside the model).
 */
import { loadModel, runPipeline, UsageError } from "@shears/core";
import {
  filterTaylorPipeline,
  type IterationRow,
  type LayerRow,
  type SpeedUp,
} from "./filter_taylor.ts";
import { deepEqual, equal, ok, rejects } from "../tests/assert.ts";
import { runInProcess, testBackend, withTempDir } from "./test_harness.ts";

const backend = testBackend("wasm"); // the cpu backend is slow for convs
const tiny = [
  "--dataset=synthetic",
  "--width=0.0625",
  "--limit_train=32",
  "--limit_test=32",
  "--batch_size=32",
  "--pretrain_epochs=1",
  "--finetune_epochs=1",
  "--final_epochs=1",
  "--latency_batch=4",
  `--backend=${backend}`,
  "--quiet",
];

interface Report {
  iterations: IterationRow[];
  layers: LayerRow[];
  ratios: {
    filters: number;
    params: number;
    macs: number;
    mac_reduction: number;
    speed_up: number;
  };
  speed_up: SpeedUp;
  top1_before: number;
  top1_after: number;
}

/** Runs the pipeline on `tiny` + `args` into `dir`/run; its report and final model. */
const run = (dir: string, args: string[]) =>
  runInProcess<Report>(filterTaylorPipeline, [...tiny, ...args], `${dir}/run`);

Deno.test("filter_taylor: N filters per iteration, full per-iteration rows, per-layer table, saved model", () =>
  withTempDir(async (dir) => {
    const { report, model } = await run(dir, [
      "--filters_per_iteration=20",
      "--iterations=2",
      "--pretrain_epochs=8", // 8 steps on the 32 examples: enough to beat chance (0.25) clearly
    ]);
    try {
      const rows = report.iterations;
      deepEqual(rows.map((r) => r.iteration), [0, 1, 2]);
      const total = 4 + 8 + 16 + 16 + 32 * 4; // vgg11_bn filters at width 1/16
      deepEqual(rows.map((r) => r.filters), [total, total - 20, total - 40]);
      for (const r of rows) {
        for (const k of ["params", "macs", "bytes", "top1", "top1_pruned", "latency_ms"] as const) {
          ok(Number.isFinite(r[k]) && r[k] >= 0, `row ${r.iteration}: ${k} = ${r[k]}`);
        }
      }
      ok(rows[2].params < rows[1].params && rows[1].params < rows[0].params, "params shrink");
      ok(rows[2].macs < rows[0].macs && rows[2].bytes < rows[0].bytes, "MACs and bytes shrink");
      equal(rows[0].top1_pruned, rows[0].top1, "row 0 is the unpruned model");
      ok(rows[0].top1 >= 0.45, `the pretrained model beats chance (0.25): ${rows[0].top1}`);
      equal(report.layers.reduce((s, l) => s + l.removed, 0), 40);
      report.layers.forEach((l) => ok(l.after >= 1 && l.after === l.before - l.removed, l.layer));
      ok(Math.abs(report.ratios.filters - (total - 40) / total) < 1e-9);
      ok(Math.abs(report.ratios.macs - rows[2].macs / rows[0].macs) < 1e-9);
      equal(report.top1_after, rows[2].top1);
      const side = report.speed_up;
      ok(side.base_ms > 0 && side.pruned_ms > 0 && side.speed_up > 0, JSON.stringify(side));
      equal(report.ratios.speed_up, side.speed_up, "the ratio is the side-by-side speed-up");
      const saved = await loadModel(`${dir}/run/model`);
      deepEqual(saved.inputs[0].shape, [null, 8, 8, 3]);
      const convs = saved.layers.filter((l) => l.getClassName() === "Conv2D");
      deepEqual(
        convs.map((l) => (l.getConfig() as { filters: number }).filters),
        report.layers.map((l) => l.after),
      );
      saved.dispose();
    } finally {
      model.dispose();
    }
  }));

Deno.test("filter_taylor: --speed_up stops at the MAC target, --round_to keeps multiples, l1 scorer", () =>
  withTempDir(async (dir) => {
    const { report, model } = await run(dir, [
      "--scorer=l1",
      "--speed_up=1.5",
      "--filters_per_iteration=16",
      "--round_to=4",
      "--final_epochs=0",
    ]);
    try {
      const rows = report.iterations;
      const last = rows.at(-1)!;
      ok(rows[0].macs / last.macs >= 1.5, `MAC reduction ${rows[0].macs / last.macs}`);
      ok(rows[0].macs / rows.at(-2)!.macs < 1.5, "stopped at the first iteration reaching it");
      for (const l of report.layers) {
        ok(l.removed === 0 || l.after % 4 === 0, `${l.layer}: ${l.before} -> ${l.after}`);
      }
    } finally {
      model.dispose();
    }
  }));

Deno.test("filter_taylor: bad flag combinations are user errors", async () => {
  await rejects(
    () => runPipeline(filterTaylorPipeline, [...tiny, "--speed_up=2", "--iterations=3"]),
    UsageError,
  );
  await rejects(
    () => runPipeline(filterTaylorPipeline, [...tiny, "--filters_per_iteration=500"]),
    /gives 0 iterations for 172 filters/,
  );
});
