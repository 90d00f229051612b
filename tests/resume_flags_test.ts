/**
 * `--resume` continues the run it names: a train_teacher run on
 * fashion-mnist killed (kill -9) after its first of 2 epochs, resumed with
 * only `--resume DIR`, finishes epoch 2 on fashion-mnist with the run's
 * other flags (flags.json, written at the start, is all a killed run
 * leaves); the command line overrides only what it names; a corrupt
 * state.json and a model that does not fit the data are one line, exit 2,
 * before any training, with no run directory left.
 */
import { parseRunFlags, readCheckpoint } from "@shears/core";
import { FASHION_MNIST_DIR } from "@shears/datasets";
import { reluTaylorPipeline, trainTeacherPipeline } from "@shears/pipelines";
import { deepEqual, equal, match, ok } from "./assert.ts";
import { interruptAt, oneLineError, repoRoot, runDeno, runTaskArgs } from "./subprocess.ts";
import { readReport, testBackend, withTempDir } from "../pipelines/test_harness.ts";

interface Report {
  status: string;
  flags: Record<string, unknown>;
  stages: { load: { params: number }; finetune: { test_top1: { step: number }[] } };
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

// the Debian package dataset-fashion-mnist (.ci/run installs it)
const haveFashion = await Deno.stat(FASHION_MNIST_DIR).then(() => true, () => false);

Deno.test({
  name: "--resume restores the run's flags and continues; bad state and data are one line",
  ignore: !haveFashion,
  fn: () =>
    withTempDir(async (dir) => {
      const first = `${dir}/first`;
      const killed = await interruptAt(
        runTaskArgs("train_teacher.ts", [
          "--dataset=fashion-mnist",
          "--epochs=2",
          "--limit_train=64",
          "--limit_test=32",
          "--batch_size=32",
          "--width=0.5",
          `--backend=${testBackend("cpu")}`,
          `--out=${first}`,
        ]),
        /fault: paused at checkpoint:filled \(#2\)/, // epoch 2 trained, epoch 1's checkpoint in place
        { signal: "SIGKILL", env: { SHEARS_FAULT: "checkpoint:filled@2" } },
      );
      ok(killed.sent, killed.stderr);
      ok(!(await exists(`${first}/report.json`)), "a killed run writes no report");
      equal((await readCheckpoint(first)).state.epoch, 1);

      // the command line overrides only what it names
      const { flags } = await parseRunFlags(trainTeacherPipeline, [
        "--resume",
        first,
        "--epochs=3",
      ]);
      deepEqual([flags.dataset, flags.epochs, flags.limit_train, flags.width], [
        "fashion-mnist",
        3,
        64,
        0.5,
      ]);
      equal(flags.out, undefined, "a resumed run writes a new run directory");

      const out = await runDeno(
        runTaskArgs("train_teacher.ts", [`--resume=${first}`, `--out=${dir}/second`]),
        repoRoot,
      );
      equal(out.code, 0, out.stderr);
      const report = await readReport<Report>(`${dir}/second`);
      equal(report.status, "completed");
      deepEqual([report.flags.dataset, report.flags.epochs, report.flags.limit_train], [
        "fashion-mnist",
        2,
        64,
      ]);
      match(out.stderr, /data: fashion-mnist \(64 train, 32 test/);
      deepEqual(
        report.stages.finetune.test_top1.map((e) => e.step),
        [2],
        "only epoch 2 was trained",
      );
      deepEqual((await readCheckpoint(`${dir}/second`)).state, { stage: "finetune", epoch: 2 });

      // the model is checked against the data before any training
      const wrongData = await runDeno(
        runTaskArgs("train_teacher.ts", [
          `--resume=${first}`,
          "--dataset=cifar10",
          `--out=${dir}/c`,
        ]),
        repoRoot,
      );
      equal(
        oneLineError(wrongData),
        `error: --resume ${first} maps [28,28,1] to [10], but cifar10 needs [32,32,3] to [10] ` +
          "(one score per class)",
      );
      ok(!(await exists(`${dir}/c`)), "no run directory left");
      // another pipeline's run is not resumed with its flags
      const other = await parseRunFlags(reluTaylorPipeline, ["--resume", first]).catch((e) => e);
      equal(
        other.message,
        `--resume ${first} is a train_teacher run; relu_taylor resumes its own runs`,
      );

      await Deno.writeTextFile(`${first}/checkpoint/state.json`, '{"epoch":"x"}');
      const corrupt = await runDeno(
        runTaskArgs("train_teacher.ts", [`--resume=${first}`, `--out=${dir}/bad`]),
        repoRoot,
      );
      match(
        oneLineError(corrupt),
        /^error: .*state\.json must give a stage name and a whole epoch >= 1, got \{"epoch":"x"\}$/,
      );
      ok(!(await exists(`${dir}/bad`)), "no run directory left");
    }),
});

Deno.test("--resume of a directory that does not exist: one line before anything runs", async () => {
  let line = "";
  try {
    await parseRunFlags(reluTaylorPipeline, ["--resume", "/nonexistent/run"]);
  } catch (e) {
    line = (e as Error).message;
  }
  equal(line, "--resume /nonexistent/run: no such run directory");
});
