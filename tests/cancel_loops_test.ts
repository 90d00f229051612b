/**
 * Ctrl-C in the loops outside training, in every pipeline that has them:
 * magnitude's and rni's sweep points, filter_taylor's scoring pass,
 * validate's evaluation batches, export's verify, relu_taylor's teacher
 * pretraining (no checkpoint then). Each run ends with exit 130, status
 * `cancelled` in report.json, and a message that names a checkpoint only
 * when one exists; the loop stops early (later points, metrics or files are
 * not there). intra_fusion's points: cancel_test.ts. SIGTERM (a timeout's)
 * ends a run the same way, with exit 143.
 */
import { buildModel } from "@shears/models";
import { saveModel } from "@shears/core";
import { equal, match, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { interruptAt, runTaskArgs } from "./subprocess.ts";
import { readReport, testBackend, withTempDir } from "../pipelines/test_harness.ts";

await useTestBackend();

const tiny = ["--limit_train=64", "--limit_test=64", "--batch_size=32", "--no-export"];
const NO_CHECKPOINT = /cancelled before any checkpoint; the report is in .*run\/report.json\n$/;

interface Report {
  status: string;
  stages: Record<string, Record<string, unknown>>;
  sweep?: unknown[];
  results?: unknown[];
}

/** Runs `script` with `args` into `<dir>/run`, Ctrl-C (or `signal`) at `marker`; checks the ending. */
async function cancelled(
  dir: string,
  script: string,
  args: string[],
  marker: RegExp,
  signal: "SIGINT" | "SIGTERM" = "SIGINT",
) {
  const backend = `--backend=${testBackend("cpu")}`;
  const command = runTaskArgs(script, [...args, backend, `--out=${dir}/run`]);
  const r = await interruptAt(command, marker, { signal });
  ok(r.sent, `never reached ${marker}:\n${r.stderr}`);
  equal(r.code, signal === "SIGINT" ? 130 : 143, r.stderr);
  const report = await readReport<Report>(`${dir}/run`);
  equal(report.status, "cancelled");
  return { stderr: r.stderr, report };
}

/** An untrained LeNet-5 for mnist, saved in `path`. */
async function saveLenet5(path: string): Promise<void> {
  const model = buildModel("lenet5", { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  await saveModel(model, path);
  model.dispose();
}

Deno.test("SIGINT during magnitude's sweep: later points not run", () =>
  withTempDir(async (dir) => {
    const { stderr, report } = await cancelled(dir, "magnitude.ts", [
      "--model=lenet5",
      "--pretrain_epochs=1",
      "--p_prune=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7",
      ...tiny,
    ], /evaluate: pruned: top-1/);
    match(stderr, NO_CHECKPOINT);
    ok((report.sweep?.length ?? 0) < 8, `stopped early: ${report.sweep?.length} of 8 points`);
  }));

Deno.test("SIGTERM (a timeout's) during magnitude's sweep: the same clean cancel, exit 143", () =>
  withTempDir(async (dir) => {
    const { stderr, report } = await cancelled(
      dir,
      "magnitude.ts",
      [
        "--model=lenet5",
        "--pretrain_epochs=1",
        "--p_prune=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7",
        ...tiny,
      ],
      /evaluate: pruned: top-1/,
      "SIGTERM",
    );
    match(stderr, /SIGTERM again to quit at once/);
    match(stderr, NO_CHECKPOINT);
    ok((report.sweep?.length ?? 0) < 8, `stopped early: ${report.sweep?.length} of 8 points`);
  }));

Deno.test("SIGINT during rni's prune sweep: later points not run", () =>
  withTempDir(async (dir) => {
    const { stderr, report } = await cancelled(dir, "rni.ts", [
      "--width=0.0625",
      "--epochs=1",
      "--finetune_epochs=0",
      "--prune_pc=0.1,0.3,0.5,0.7,0.9",
      ...tiny,
    ], /evaluate: pruned: top-1/);
    // rni's training wrote checkpoints before the sweep: the message names the last one
    match(stderr, /cancelled; the last checkpoint \(finetune epoch 1\) is in .*run\/checkpoint\n$/);
    ok((report.results?.length ?? 0) < 5, `stopped early: ${report.results?.length} of 5 points`);
  }));

Deno.test("SIGINT during filter_taylor's scoring pass: no iteration finishes", () =>
  withTempDir(async (dir) => {
    const { stderr, report } = await cancelled(dir, "filter_taylor.ts", [
      "--model=lenet5",
      "--pretrain_epochs=1",
      "--iterations=3",
      "--filters_per_iteration=2",
      "--finetune_epochs=0",
      "--final_epochs=0",
      "--latency_batch=4",
      ...tiny,
      "--batch_size=4",
    ], /^score: score filter_taylor\/taylor/m);
    match(stderr, NO_CHECKPOINT);
    ok(!/iteration 1:/.test(stderr), "no pruning iteration after the Ctrl-C");
    equal((report as { iterations?: unknown[] }).iterations?.length, 1, "only the unpruned row");
  }));

Deno.test("SIGINT during validate's evaluation: stops within the batches, records no accuracy", () =>
  withTempDir(async (dir) => {
    await saveLenet5(`${dir}/model`);
    // all 10000 test images in batches of 16: far longer than a Ctrl-C takes to land
    const { stderr, report } = await cancelled(
      dir,
      "validate.ts",
      [`--path=${dir}/model`, "--batch_size=16"],
      /load: model: /,
    );
    match(stderr, NO_CHECKPOINT);
    equal(report.stages.evaluate, undefined, "the evaluation was cut short, so no metrics");
  }));

Deno.test("SIGINT during export's verify: exit 130, no export directory left", () =>
  withTempDir(async (dir) => {
    await saveLenet5(`${dir}/model`);
    const args = [`--path=${dir}/model`, `--to=${dir}/export`];
    const { stderr } = await cancelled(dir, "export.ts", args, /load: model: /);
    match(stderr, NO_CHECKPOINT);
    const left = await Deno.stat(`${dir}/export`).then(() => true, () => false);
    ok(!left, "a cancelled export writes no export directory");
    const hidden = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith(".export"));
    equal(hidden.length, 0, "no temp directory of the export left");
  }));

Deno.test("SIGINT during relu_taylor's teacher pretraining: the message names no checkpoint", () =>
  withTempDir(async (dir) => {
    const { stderr } = await cancelled(dir, "relu_taylor.ts", [
      "--model_t=lenet5",
      "--model_s=lenet5",
      "--teacher_epochs=3",
      "--epochs=1",
      ...tiny,
      "--batch_size=4",
    ], /^pretrain teacher: teacher epoch/m);
    match(stderr, NO_CHECKPOINT);
    ok(!/distill:/.test(stderr), "nothing after the teacher's pretraining ran");
  }));
