/**
 * `relu_taylor --resume` continues the pruning where the checkpoint stopped:
 * a 3-epoch run killed (kill -9) while writing epoch 3's checkpoint, so
 * epoch 2's is the last, resumed with only `--resume DIR`, trains epoch 3
 * alone on the run's schedule (its mask update at global batch 6, not at
 * batch 2 of a restarted schedule), starts from the checkpoint's masks (at
 * the budget already), distils from the teacher the run kept (none trained
 * again) and ends at the budget; resuming the finished run, a checkpoint of
 * another training, or a run that kept no teacher is one line, exit 2. The
 * finished pruning resumed with `--finetune_epochs 1` runs the fine-tune
 * alone.
 *
 * It continues the fine-tune after the pruning too: a run with
 * `--finetune_epochs 2` killed while writing fine-tune epoch 2's checkpoint
 * trains fine-tune epoch 2 alone (no pruning, no fine-tune epoch 1), keeps
 * the checkpoint's masks as they are, and completes; resuming it again is
 * refused as finished, and a checkpoint of neither training as such.
 */
import {
  activationMaskLayers,
  loadCheckpoint,
  type PruneUpdateRow,
  readCheckpoint,
  runPipeline,
  type tf,
} from "@shears/core";
import { reluTaylorPipeline } from "@shears/pipelines";
import { deepEqual, equal, ok, rejects } from "./assert.ts";
import { interruptAt, oneLineError, repoRoot, runDeno, runTaskArgs } from "./subprocess.ts";
import { runInProcess, testBackend } from "../pipelines/test_harness.ts";

const backend = testBackend("wasm");
// 64 examples in batches of 32: 2 batches per epoch; warmup 1, target epoch floor(1 + 2 * 0.6)
// = 2; updates every batch in epoch 1 (at keep 1), every 2nd from epoch 2: at batches 1, 2, 4, 6
const tiny = [
  "--dataset=synthetic",
  "--width=0.0625",
  "--epochs=3",
  "--warmup=1",
  "--mask_interval=1",
  "--teacher_epochs=1",
  "--limit_train=64",
  "--limit_test=32",
  "--batch_size=32",
  "--quiet",
  `--backend=${backend}`,
];
const PHASE = "pruning (relu_taylor/progressive)";

interface Report {
  status: string;
  flags: Record<string, unknown>;
  relus_before: number;
  relus_after: number;
  relu_layers_after: { before: number }[];
  mask_updates: PruneUpdateRow[];
  stages: Record<string, Record<string, { step: number }[]>>;
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const bytes = (p: string) => Deno.readFile(p);

Deno.test("relu_taylor --resume runs only the epochs left, on the run's schedule and teacher", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_relu_resume_" });
  try {
    const first = `${dir}/first`;
    const killed = await interruptAt(
      runTaskArgs("relu_taylor.ts", [...tiny, `--out=${first}`]),
      /fault: paused at checkpoint:filled \(#3\)/, // epoch 3 trained, epoch 2's checkpoint in place
      { signal: "SIGKILL", env: { SHEARS_FAULT: "checkpoint:filled@3" } },
    );
    ok(killed.sent, killed.stderr);
    deepEqual((await readCheckpoint(first)).state, { stage: PHASE, epoch: 2 });
    ok(await exists(`${first}/teacher/model.json`), "the trained teacher is kept");

    const { report, model } = await runInProcess<Report>(
      reluTaylorPipeline,
      [`--resume=${first}`, "--quiet", `--backend=${backend}`],
      `${dir}/second`,
    );
    model.dispose();
    equal(report.status, "completed");
    equal(report.flags.epochs, 3, "the run's flags");
    deepEqual(report.stages.distill.test_top1.map((e) => e.step), [3], "only epoch 3 trained");
    ok(!report.stages["pretrain teacher"], "no teacher trained again");
    deepEqual(
      await bytes(`${dir}/second/teacher/weights.bin`),
      await bytes(`${first}/teacher/weights.bin`),
      "the run's teacher, kept again for a resume of this run",
    );
    const total = report.relu_layers_after.reduce((n, r) => n + r.before, 0);
    const budget = Math.floor(total * 0.1);
    equal(report.relus_before, budget, "the checkpoint's masks (at the budget after epoch 2)");
    deepEqual(
      report.mask_updates.map((u) => [u.epoch, u.batch, u.kept]),
      [[3, 6, budget]],
      "the schedule goes on at epoch 3",
    );
    equal(report.relus_after, budget);
    deepEqual((await readCheckpoint(`${dir}/second`)).state, { stage: PHASE, epoch: 3 });

    // the finished run: one line, exit 2, no run directory
    const done = await runDeno(
      runTaskArgs("relu_taylor.ts", [`--resume=${dir}/second`, `--out=${dir}/third`]),
      repoRoot,
    );
    equal(oneLineError(done), "error: --resume: the run already finished 3 of 3 epochs");
    ok(!(await exists(`${dir}/third`)));

    // the pruning finished, a fine-tune asked for: the fine-tune alone, at its epoch 1
    const ft = await runInProcess<Report>(
      reluTaylorPipeline,
      [`--resume=${dir}/second`, "--finetune_epochs=1", "--quiet", `--backend=${backend}`],
      `${dir}/ft1`,
    );
    ft.model.dispose();
    equal(ft.report.status, "completed");
    ok(!ft.report.stages.distill && !ft.report.mask_updates, "no pruning trained again");
    deepEqual(ft.report.stages.finetune.test_top1.map((e) => e.step), [1]);
    equal(ft.report.relus_after, budget);

    // a checkpoint of a training this run does not do (a fine-tune: it has --finetune_epochs 0)
    const state = `${first}/checkpoint/state.json`;
    const saved = await Deno.readTextFile(state);
    await Deno.writeTextFile(state, saved.replace(PHASE, "finetune"));
    await rejects(
      () => runPipeline(reluTaylorPipeline, [`--resume=${first}`, `--out=${dir}/ft`]),
      {
        message: `--resume ${first}: its checkpoint is of finetune (epoch 2), not of ${PHASE}: ` +
          "only that training resumes",
      },
    );
    await Deno.writeTextFile(state, saved);
    ok(!(await exists(`${dir}/ft`)), "refused before the run directory");
    // a run that kept no teacher (and recorded no --path_t)
    await Deno.remove(`${first}/teacher`, { recursive: true });
    await rejects(
      () => runPipeline(reluTaylorPipeline, [`--resume=${first}`, `--out=${dir}/nt`]),
      {
        message: `--resume ${first}: the run kept no teacher (no ${first}/teacher); ` +
          "pass the one it distilled from as --path_t",
      },
    );
    ok(!(await exists(`${dir}/nt`)), "refused before the run directory");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The MaskedReLU masks of `model`, layer by layer, as bytes. */
const masks = (model: tf.LayersModel) =>
  Promise.all(
    activationMaskLayers(model).map(async (l) =>
      new Uint8Array((await l.mask.read().data()).slice().buffer)
    ),
  );

Deno.test("relu_taylor --resume of a run killed in its fine-tune trains only the fine-tune epochs left", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_relu_resume_ft_" });
  try {
    const first = `${dir}/first`;
    const killed = await interruptAt(
      runTaskArgs("relu_taylor.ts", [...tiny, "--finetune_epochs=2", `--out=${first}`]),
      /fault: paused at checkpoint:filled \(#5\)/, // 3 pruning epochs, fine-tune epoch 2 trained
      { signal: "SIGKILL", env: { SHEARS_FAULT: "checkpoint:filled@5" } },
    );
    ok(killed.sent, killed.stderr);
    deepEqual((await readCheckpoint(first)).state, { stage: "finetune", epoch: 1 });
    const saved = await loadCheckpoint(first);
    const before = await masks(saved.model);
    saved.model.dispose();

    const { report, model } = await runInProcess<Report>(
      reluTaylorPipeline,
      [`--resume=${first}`, "--quiet", `--backend=${backend}`],
      `${dir}/second`,
    );
    try {
      equal(report.status, "completed");
      equal(report.flags.finetune_epochs, 2, "the run's flags");
      ok(!report.stages.distill, "no pruning epoch trained again");
      ok(!report.mask_updates, "no mask update");
      ok(!report.stages["pretrain teacher"], "no teacher trained again");
      deepEqual(
        report.stages.finetune.test_top1.map((e) => e.step),
        [2],
        "fine-tune epoch 2 alone, at its place in the fine-tune (not its epoch 1 again)",
      );
      deepEqual(await masks(model), before, "the checkpoint's masks, as they were");
      const total = report.relu_layers_after.reduce((n, r) => n + r.before, 0);
      const budget = Math.floor(total * 0.1);
      equal(report.relus_before, budget);
      equal(report.relus_after, budget);
    } finally {
      model.dispose();
    }
    deepEqual((await readCheckpoint(`${dir}/second`)).state, { stage: "finetune", epoch: 2 });

    // the finished fine-tune
    await rejects(
      () => runPipeline(reluTaylorPipeline, [`--resume=${dir}/second`, `--out=${dir}/third`]),
      { message: "--resume: the run already finished 2 of 2 epochs of finetune" },
    );
    ok(!(await exists(`${dir}/third`)), "refused before the run directory");
    // a checkpoint of neither training
    const state = `${first}/checkpoint/state.json`;
    await Deno.writeTextFile(
      state,
      (await Deno.readTextFile(state)).replace('"finetune"', '"pretrain"'),
    );
    await rejects(
      () => runPipeline(reluTaylorPipeline, [`--resume=${first}`, `--out=${dir}/other`]),
      {
        message: `--resume ${first}: its checkpoint is of pretrain (epoch 1), not of ${PHASE} ` +
          "or finetune: only those trainings resume",
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
