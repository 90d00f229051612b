/**
 * The preflight: a bad part name, a part of the wrong target, a budget the
 * model cannot meet, layers it does not have, a teacher built for other
 * data, a bad `--opt` value and every kind of bad `--plugin` module fail
 * with one line and exit 2 before any data is loaded or anything trained
 * (no run directory is made). Subprocesses run as a user does, on default
 * settings; the rest run in-process (exitOnError prints any user-facing
 * error as one line, exit 2: tests/cli_test.ts).
 */
import { isUserFacing, type PipelineSpec, runPipeline, saveModel } from "@shears/core";
import { buildModel } from "@shears/models";
import { oneLineError } from "./subprocess.ts";
import { equal, match, ok, rejects } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { runCli, withTempDir } from "../pipelines/test_harness.ts";
import {
  filterTaylorPipeline,
  intraFusionPipeline,
  magnitudePipeline,
  prunePipeline,
  reluTaylorPipeline,
  rniPipeline,
} from "../pipelines/mod.ts";

const backend = await useTestBackend();

/** Whether `path` exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("every pipeline: --scorer nope exits 2 with one line, before any work", () =>
  withTempDir(async (dir) => {
    const scripts = [
      "relu_taylor.ts",
      "magnitude.ts",
      "filter_taylor.ts",
      "rni.ts",
      "intra_fusion.ts",
      "prune.ts",
    ];
    const outs = await Promise.all(
      scripts.map((s) => runCli(s, ["--scorer", "nope", "--out", `${dir}/${s}`])),
    );
    for (const [i, out] of outs.entries()) {
      match(oneLineError(out), /^error: --scorer: unknown scorer 'nope'; known: \w+\//, scripts[i]);
      equal(await exists(`${dir}/${scripts[i]}`), false, `${scripts[i]}: no run directory`);
      ok(!/training|epoch/.test(out.stderr), `${scripts[i]} trained nothing`);
    }
  }));

Deno.test("--plugin modules are checked at import: one line, exit 2", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/throws.ts`, 'throw new Error("boom at import");\n');
    await Deno.writeTextFile(
      `${dir}/nostart.ts`,
      'export default { name: "mine", scorers: { s: { target: "weights", description: "d", batches: 0 } } };\n',
    );
    const [missing, throws, nostart] = await Promise.all([
      runCli("magnitude.ts", ["--plugin", `${dir}/missing.ts`]),
      runCli("magnitude.ts", ["--plugin", `${dir}/throws.ts`]),
      runCli("magnitude.ts", ["--plugin", `${dir}/nostart.ts`]),
    ]);
    match(oneLineError(missing), /^error: --plugin .*missing.ts: no such file$/);
    match(
      oneLineError(throws),
      /^error: --plugin .*throws.ts: importing it failed: .*boom at import/,
    );
    match(oneLineError(nostart), /plugin 'mine': scorer 's' has no start\(\) function$/);
  }));

/** Runs relu_taylor in-process; it must reject with a one-line user error matching `re`, making no run dir. */
async function preflightFails(
  args: string[],
  re: RegExp,
  spec: PipelineSpec<never> = reluTaylorPipeline as never,
) {
  await withTempDir(async (dir) => {
    await rejects(
      () => runPipeline(spec, [...args, "--backend", backend, "--quiet", "--out", `${dir}/run`]),
      (e: Error) => {
        ok(isUserFacing(e), `not a user error: ${e.stack}`);
        ok(!e.message.includes("\n"), `one line: ${e.message}`);
        match(e.message, re);
        return true;
      },
    );
    equal(await exists(`${dir}/run`), false, "no run directory");
  });
}

Deno.test("relu_taylor preflight: wrong target, budget, layers, teacher shape, --opt", () =>
  withTempDir(async (dir) => {
    await preflightFails(
      ["--plugin", "./examples/filter_norm.ts", "--scorer", "filter_norm/lp"],
      /^--scorer filter_norm\/lp works on channels; this pipeline prunes activations/,
    );
    await preflightFails(
      ["--target_relus", "10000000"],
      /^--target_relus 10000000: the model has 48000 ReLUs; it must be an integer in \[1, 48000\]/,
    );
    await preflightFails(
      ["--finetune_epochs", "1", "--at_layers", "layer2_1_relu2,nope"],
      /^--at_layers: the student \(.*\) has no layer nope/,
    );
    await preflightFails(
      ["--opt", "taylor.momentum=2"],
      /^--opt relu_taylor\/taylor.momentum must be in \[0, 1\), got 2$/,
    );
    await preflightFails(["--opt", "pruner.nope=1"], /global_topk.nope: no such option/);
    const cifar = buildModel("resnet18", { inputShape: [32, 32, 3], numClasses: 10, width: 0.125 });
    await saveModel(cifar, `${dir}/teacher`);
    cifar.dispose();
    await preflightFails(
      ["--path_t", `${dir}/teacher`],
      /^--path_t .*teacher maps \[32,32,3\] to \[10\], but mnist needs \[28,28,1\] to \[10\] \(one score per class\)$/,
    );
    const dup = `${dir}/dup.ts`;
    await Deno.writeTextFile(dup, 'export default { name: "relu_taylor" };\n');
    await preflightFails(["--plugin", dup], /^plugin 'relu_taylor' is already registered$/);
    await Deno.writeTextFile(`${dir}/none.ts`, "export const x = 1;\n");
    await preflightFails(["--plugin", `${dir}/none.ts`], /must default-export a Plugin/);
  }));

Deno.test("every pipeline's preflight: wrong targets, unknown parts, bad options and budgets", async () => {
  const cases: [unknown, string[], RegExp][] = [
    [
      magnitudePipeline,
      ["--plugin", "./examples/filter_norm.ts", "--scorer", "filter_norm/lp"],
      /^--scorer filter_norm\/lp works on channels; this pipeline prunes weights/,
    ],
    [
      magnitudePipeline,
      ["--pruner", "nope"],
      /^--pruner: unknown pruner 'nope'; known: magnitude\//,
    ],
    [
      magnitudePipeline,
      ["--opt", "scorer.nope=1"],
      /^--opt magnitude\/abs.nope: no such option; known: include$/,
    ],
    [
      filterTaylorPipeline,
      ["--plugin", "./examples/relative_magnitude.ts", "--scorer", "relative_magnitude/relative"],
      /^--scorer relative_magnitude\/relative works on weights; this pipeline prunes channels/,
    ],
    [
      filterTaylorPipeline,
      ["--opt", "pruner.round_to=0"],
      /^--opt filter_taylor\/global_lowest.round_to must be >= 1, got 0$/,
    ],
    [
      filterTaylorPipeline,
      ["--filters_per_iteration", "500"],
      /gives 0 iterations for \d+ filters/,
    ],
    [
      rniPipeline,
      ["--plugin", "./examples/activation_gradient.ts", "--scorer", "activation_gradient/xg"],
      /^--scorer activation_gradient\/xg works on activations; this pipeline prunes channels/,
    ],
    [rniPipeline, ["--regularizer", "nope"], /^--regularizer: unknown regularizer 'nope'/],
    [
      intraFusionPipeline,
      ["--plugin", "./examples/relative_magnitude.ts", "--scorer", "relative_magnitude/relative"],
      /^--scorer relative_magnitude\/relative works on weights; this pipeline prunes channels/,
    ],
    [intraFusionPipeline, ["--baseline", "nope"], /^--baseline: unknown pruner 'nope'/],
    [intraFusionPipeline, ["--group_idxs", "99"], /^--group_idxs 99 is out of range/],
    [
      prunePipeline,
      ["--scorer", "magnitude/abs", "--pruner", "filter_taylor/global_lowest"],
      /^--pruner filter_taylor\/global_lowest works on channels; this pipeline prunes weights/,
    ],
    [
      prunePipeline,
      ["--scorer", "magnitude/abs", "--speed_up", "2"],
      /^--target_macs and --speed_up cut channels; magnitude\/abs scores weights$/,
    ],
    [
      prunePipeline,
      ["--scorer", "filter_taylor/l1", "--keep_ratio", "0.3", "--speed_up", "2"],
      /^--speed_up and --keep_ratio are alternatives; pass one$/,
    ],
    [prunePipeline, ["--scorer", "relu_taylor/taylor"], /the model has no MaskedReLU/],
    [prunePipeline, ["--transform", "nope"], /^--transform: unknown transform 'nope'/],
  ];
  for (const [spec, args, re] of cases) await preflightFails(args, re, spec as never);
});
