/**
 * Every pipeline completes on `--backend webgpu` with the provider of
 * SHEARS_TEST_WEBGPU_PROVIDER (dawn | deno; default deno), each run as a
 * subprocess as a user runs it, on tiny limits (lavapipe executes on the CPU):
 * exit 0, report.json naming the provider, and no synchronous GPU read (tfjs's
 * webgpu backend warns on the first one). Gated like backend_webgpu_test.ts:
 * SHEARS_TEST_WEBGPU=1, in a process of its own.
 */
import { probeAdapter, type WebGpuProvider } from "@shears/core";
import { equal, ok } from "./assert.ts";
import { runDeno } from "./subprocess.ts";
import { readReport, withTempDir } from "../pipelines/test_harness.ts";

const wanted = Deno.env.get("SHEARS_TEST_WEBGPU") === "1";
const provider = (Deno.env.get("SHEARS_TEST_WEBGPU_PROVIDER") ?? "deno") as WebGpuProvider;
const adapter = wanted ? await probeAdapter(provider) : null;

const pipelines = new URL("../pipelines/", import.meta.url).pathname;
const common = [`--backend=webgpu`, `--webgpu=${provider}`, "--quiet"];
const tinyResnet = ["--dataset=synthetic", "--width=0.0625", "--limit_train=32"];

/** Each pipeline's default run, shrunk: few examples, one epoch, narrow models. */
const runs: [string, string[]][] = [
  ["train_teacher.ts", ["--limit_train=64", "--limit_test=32", "--epochs=1", "--batch_size=32"]],
  ["relu_taylor.ts", [
    ...tinyResnet,
    "--limit_test=16",
    "--epochs=2",
    "--warmup=1",
    "--mask_interval=1",
    "--teacher_epochs=1",
    "--batch_size=16",
  ]],
  ["magnitude.ts", [
    "--limit_train=64",
    "--limit_test=32",
    "--batch_size=32",
    "--pretrain_epochs=1",
    "--p_prune=0.5",
  ]],
  ["filter_taylor.ts", [
    ...tinyResnet,
    "--limit_test=16",
    "--batch_size=16",
    "--pretrain_epochs=1",
    "--finetune_epochs=1",
    "--final_epochs=0",
    "--iterations=1",
    "--filters_per_iteration=4",
    "--latency_batch=2",
  ]],
  ["rni.ts", [
    "--width=0.0625",
    "--limit_train=32",
    "--limit_test=16",
    "--epochs=1",
    "--batch_size=16",
    "--prune_pc=0.5",
    "--finetune_epochs=0",
  ]],
  ["intra_fusion.ts", [
    "--model=mlp",
    "--width=0.25",
    "--pad=0",
    "--limit_train=64",
    "--limit_test=32",
    "--epochs=1",
    "--group_idxs=0,1",
    "--sparsities=0.5",
  ]],
];

const run = (script: string, args: string[]) =>
  runDeno(["run", "--allow-all", "--unstable-webgpu", `${pipelines}${script}`, ...args]);

/** Asserts a finished run: exit 0, no synchronous GPU read. */
function completed(what: string, out: { code: number; stderr: string }): void {
  equal(out.code, 0, `${what} failed:\n${out.stderr}`);
  ok(!/synchronously reading data from GPU/.test(out.stderr), `${what} read the GPU synchronously`);
}

for (const [script, args] of runs) {
  Deno.test({
    name: `${script} completes on webgpu (${provider})`,
    ignore: adapter == null,
    fn: () =>
      withTempDir(async (dir) => {
        completed(script, await run(script, [...common, ...args, `--out=${dir}`]));
        const report = await readReport<{ backend: { name: string; provider?: string } }>(dir);
        equal(report.backend.name, "webgpu");
        equal(report.backend.provider, provider);
        if (script !== "train_teacher.ts") return;
        // validate and summary on the model it saved
        completed(
          "validate.ts",
          await run("validate.ts", [...common, `--path=${dir}/model`, "--limit_test=32"]),
        );
        completed(
          "summary.ts",
          await run("summary.ts", ["--backend=webgpu", `--path=${dir}/model`]),
        );
      }),
  });
}
