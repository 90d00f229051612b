/**
 * End-to-end smoke tests of pipelines/relu_taylor.ts through runPipeline, on
 * tiny synthetic data and a ResNet at width 1/16; the saved student is
 * checked again by pipelines/validate.ts.
 */
import { activationMaskLayers, loadModel, type PruneUpdateRow } from "@shears/core";
import { reluTaylorPipeline } from "./relu_taylor.ts";
import { validate } from "./validate.ts";
import { equal, ok } from "../tests/assert.ts";
import { runInProcess, testBackend, withTempDir } from "./test_harness.ts";

const backend = testBackend("wasm");
const tiny = [
  "--dataset",
  "synthetic",
  "--width",
  "0.0625",
  "--epochs",
  "2",
  "--warmup",
  "1",
  "--mask_interval",
  "1",
  "--teacher_epochs",
  "1",
  "--limit_train",
  "64",
  "--limit_test",
  "32",
  "--batch_size",
  "32",
  "--quiet",
  "--backend",
  backend,
];

interface Report {
  relus_before: number;
  relus_after: number;
  teacher_accuracy: number;
  student_accuracy: number;
  mask_updates: PruneUpdateRow[];
}

/** Runs the pipeline on `tiny` + `args` into `dir`/run; its report and final model. */
const run = (dir: string, args: string[]) =>
  runInProcess<Report>(reluTaylorPipeline, [...tiny, ...args], `${dir}/run`);

Deno.test("relu_taylor end to end: budget met, report numbers, saved masks load back", () =>
  withTempDir(async (out) => {
    const { report, model } = await run(out, ["--global_keep_ratio", "0.1"]);
    const before = report.relus_before;
    ok(before > 0);
    equal(report.relus_after, Math.max(1, Math.floor(before * 0.1)));
    ok(report.teacher_accuracy >= 0 && report.teacher_accuracy <= 1, `${report.teacher_accuracy}`);
    // 4 classes: chance is 0.25; the distilled student must clearly beat it
    ok(report.student_accuracy >= 0.45, `student accuracy ${report.student_accuracy}`);
    // one row per rebuild, the budget falling to the target; churn within the kept count
    const updates = report.mask_updates;
    ok(updates.length >= 2, `${updates.length} mask updates`);
    for (const [i, u] of updates.entries()) {
      ok(u.revived >= 0 && u.revived <= u.kept, JSON.stringify(u));
      if (i > 0) ok(u.kept <= updates[i - 1].kept && u.batch > updates[i - 1].batch);
    }
    equal(updates.at(-1)!.kept, report.relus_after);
    const loaded = await loadModel(`${out}/run/model`);
    const counts = await Promise.all(activationMaskLayers(loaded).map((l) => l.activeCount()));
    const active = counts.reduce((a, b) => a + b, 0);
    equal(active, report.relus_after);
    equal(activationMaskLayers(loaded).length, activationMaskLayers(model).length);
    const { report: v, model: validated } = await runInProcess<{ relus: number }>(validate, [
      "--path",
      `${out}/run/model`,
      "--dataset",
      "synthetic",
      "--limit_test",
      "32",
      "--quiet",
      "--backend",
      backend,
    ], `${out}/val`);
    validated.dispose();
    equal(v.relus, report.relus_after);
  }));

Deno.test("relu_taylor --target_relus keeps exactly that many ReLUs", () =>
  withTempDir(async (out) => {
    const { report } = await run(out, ["--target_relus", "37", "--scorer", "activation"]);
    equal(report.relus_after, 37);
  }));
