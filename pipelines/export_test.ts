/**
 * End-to-end tests of the export as a user meets it: a pipeline run writes
 * export/ beside model/ (quantized with --quantize, none with --no-export),
 * and pipelines/export.ts re-exports a saved model or says in one line why it
 * will not.
 */
import { type ExportReport, saveModel, tf } from "@shears/core";
import { loadDataset } from "@shears/datasets";
import { deepEqual, equal, match, ok } from "../tests/assert.ts";
import { oneLineError } from "../tests/subprocess.ts";
import { modelWith, pipelineModel, Sine, Unshippable } from "../tests/export_fixtures.ts";
import { readReport, runCli, testBackend, withTempDir } from "./test_harness.ts";

const backend = `--backend=${testBackend("wasm")}`;
const small = [
  "--model=lenet5",
  "--limit_train=128",
  "--limit_test=128",
  "--batch_size=32",
  "--pretrain_epochs=1",
  "--p_prune=0.5",
  backend,
  "--quiet",
];
const names = async (dir: string) => {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
};

Deno.test("a run exports at the end (--quantize float16); export.ts re-exports it as float32 elsewhere", () =>
  withTempDir(async (dir) => {
    const run = await runCli("magnitude.ts", [...small, "--quantize=float16", `--out=${dir}/run`]);
    equal(run.code, 0, run.stderr);
    const rep = (await readReport<{ export: ExportReport }>(`${dir}/run`)).export;
    equal(rep.quantize, "float16");
    equal(rep.dir, `${dir}/run/export`);
    ok(rep.verify.passed && rep.top1!.images === 128, JSON.stringify(rep.verify));
    deepEqual(await names(`${dir}/run/export`), [
      "model.json",
      "samples.bin",
      "samples.json",
      "weights.bin",
    ]);

    const again = await runCli("export.ts", [`--path=${dir}/run/model`, backend, "--quiet"]);
    equal(
      oneLineError(again),
      `error: ${dir}/run/export already holds files (the run's own export?); pass --to DIR`,
    );

    const f32 = await runCli("export.ts", [
      `--path=${dir}/run/model`,
      `--to=${dir}/f32`,
      `--out=${dir}/export_run`,
      "--limit_test=128",
      backend,
    ]);
    equal(f32.code, 0, f32.stderr);
    match(
      f32.stdout,
      new RegExp(
        `^${dir}/f32: float32 weights, stock tfjs layers \\(custom layers rewritten: none\\)$`,
        "m",
      ),
    );
    match(
      f32.stdout,
      /^download: model\.json [\d.]+ kB \+ weights\.bin [\d.]+ kB = [\d.]+ kB, gzipped [\d.]+ kB$/m,
    );
    match(
      f32.stdout,
      /^plain tfjs \(tfjs 4\.22\.0, cpu, no Shears\): max \|diff\| \S+ vs Shears on 64 test images, \S+ of max \|output\| \S+ \(bar \S+ = 1e-4 \+ 1e-3 x max \|output\|: ok\)$/m,
    );
    const exp = (await readReport<{ export: ExportReport }>(`${dir}/export_run`)).export;
    equal(exp.bytes.weights, 2 * rep.bytes.weights, "float16 is half the float32 weights");
    equal(exp.top1!.export, exp.top1!.shears);
  }));

Deno.test("export.ts loads any pipeline's model without --plugin (here rni's SigmoidBatchNorm)", () =>
  withTempDir(async (dir) => {
    const [batch] = [...(await loadDataset("mnist", { limitTest: 64 })).batches("test", {
      batchSize: 64,
    })];
    const model = await pipelineModel("rni", batch.x);
    await saveModel(model, `${dir}/model`);
    tf.dispose([batch.x, batch.y]);
    model.dispose();
    const out = await runCli("export.ts", [`--path=${dir}/model`, "--limit_test=64", backend]);
    equal(out.code, 0, out.stderr);
    match(out.stdout, /rewritten: 8 SigmoidBatchNorm -> BatchNormalization\)$/m);
    match(out.stdout, /\(bar \S+ = 1e-4 \+ 1e-3 x max \|output\|: ok\)$/m);
  }));

Deno.test("export.ts refuses a model whose outputs are NaN: one line, exit 2, no export", () =>
  withTempDir(async (dir) => {
    const model = modelWith(new Sine({ name: "sine" }));
    const fc = model.getLayer("fc");
    const [kernel, bias] = fc.getWeights();
    const nan = tf.tidy(() => bias.mul(tf.tensor1d([1, 1, 1, 1, 1, NaN, 1, 1, 1, 1])));
    fc.setWeights([kernel, nan]);
    nan.dispose();
    await saveModel(model, `${dir}/model`);
    model.dispose();
    const out = await runCli("export.ts", [
      `--path=${dir}/model`,
      "--plugin=./tests/export_fixtures.ts",
      "--limit_test=64",
      backend,
      "--quiet",
      `--out=${dir}/run`,
    ]);
    equal(
      oneLineError(out),
      "error: the model's outputs are not finite (NaN at test image 0, output 5 of 'fc'; " +
        "64 of 640 values NaN or ±Inf): a diverged model cannot be exported",
    );
    deepEqual(await names(dir), ["model", "run"], "no export/ beside model/");
  }));

Deno.test("--no-export: the run writes no export/", () =>
  withTempDir(async (dir) => {
    const run = await runCli("magnitude.ts", [...small, "--no-export", `--out=${dir}`]);
    equal(run.code, 0, run.stderr);
    deepEqual(await names(dir), ["flags.json", "model", "report.json", "report.md", "sweep.svg"]);
  }));

Deno.test("export.ts bad input: one line, exit 2, before any work", () =>
  withTempDir(async (dir) => {
    const model = modelWith(new Unshippable({ name: "plus_one" }));
    await saveModel(model, `${dir}/model`);
    model.dispose();
    const cases: [string[], string][] = [
      [[], "error: --path is required: the saved model directory to export"],
      [
        [`--path=${dir}/nowhere`],
        `error: --path ${dir}/nowhere: there is no ${dir}/nowhere/model.json`,
      ],
      [
        [`--path=${dir}/model`, "--quantize=int4"],
        "error: --quantize must be one of none, float16, uint8, uint16, got int4",
      ],
      [
        [`--path=${dir}/model`, "--plugin=./tests/export_fixtures.ts", "--limit_test=64"],
        "error: layer 'plus_one' (Unshippable) has no standard tfjs form and no shipped module, " +
        "so it cannot be exported; its module must call registerExportForm or registerExportModule",
      ],
    ];
    for (const [i, [args, want]] of cases.entries()) {
      const out = await runCli("export.ts", [...args, backend, "--quiet", `--out=${dir}/r${i}`]);
      equal(oneLineError(out), want);
    }
    // the first three fail before the run dir exists; the unexportable layer is found by the
    // export stage, so that run records its failure
    deepEqual(await names(dir), ["model", "r3"], "no other run directory left");
    const report = await readReport<{ status: string; error: string }>(`${dir}/r3`);
    deepEqual([report.status, `error: ${report.error}`], ["failed", cases[3][1]]);
  }));
