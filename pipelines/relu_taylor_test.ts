import { activationMaskLayers, loadModel, runPipeline } from "@shears/core";
import { reluTaylorPipeline } from "./relu_taylor.ts";
import { validate } from "./validate.ts";
import { equal, ok } from "../tests/assert.ts";

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
  "wasm",
];

Deno.test("relu_taylor end to end: budget met, report numbers, saved masks load back", async () => {
  const out = await Deno.makeTempDir();
  try {
    const ctx = await runPipeline(reluTaylorPipeline, [
      ...tiny,
      "--global_keep_ratio",
      "0.1",
      "--out",
      `${out}/run`,
    ]);
    const report = JSON.parse(await Deno.readTextFile(`${out}/run/report.json`));
    const before = report.relus_before as number;
    ok(before > 0);
    equal(report.relus_after, Math.max(1, Math.floor(before * 0.1)));
    for (const k of ["teacher_accuracy", "student_accuracy"]) {
      ok(report[k] >= 0 && report[k] <= 1, `${k} = ${report[k]}`);
    }
    const loaded = await loadModel(`${out}/run/model`);
    const active = activationMaskLayers(loaded).reduce((a, l) => a + l.activeCount(), 0);
    equal(active, report.relus_after);
    equal(activationMaskLayers(loaded).length, activationMaskLayers(ctx.model!).length);
    await runPipeline(validate, [
      "--path",
      `${out}/run/model`,
      "--dataset",
      "synthetic",
      "--limit_test",
      "32",
      "--quiet",
      "--backend",
      "wasm",
      "--out",
      `${out}/val`,
    ]);
    const v = JSON.parse(await Deno.readTextFile(`${out}/val/report.json`));
    equal(v.relus, report.relus_after);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("relu_taylor --target_relus keeps exactly that many ReLUs", async () => {
  const out = await Deno.makeTempDir();
  try {
    await runPipeline(reluTaylorPipeline, [
      ...tiny,
      "--target_relus",
      "37",
      "--scorer",
      "activation",
      "--out",
      `${out}/run`,
    ]);
    const report = JSON.parse(await Deno.readTextFile(`${out}/run/report.json`));
    equal(report.relus_after, 37);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
