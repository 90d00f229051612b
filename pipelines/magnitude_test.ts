/**
 * End-to-end smoke tests of pipelines/magnitude.ts as a user runs it (a
 * subprocess with the `run` task's permissions), on a small LeNet-5 trained
 * for one epoch on 1024 embedded MNIST digits.
 */
import { loadModel } from "@shears/core";
import { deepEqual, equal, match, ok } from "../tests/assert.ts";
import { oneLineError } from "../tests/subprocess.ts";
import type { SweepPoint } from "./magnitude.ts";
import { readReport, runCli, testBackend, withTempDir } from "./test_harness.ts";

const backend = testBackend("wasm"); // the cpu backend is slow for convs
const small = [
  "--model=lenet5",
  "--width=1",
  "--limit_train=1024", // one epoch of 32 steps: enough to beat chance (0.1) clearly
  "--limit_test=128",
  "--batch_size=32",
  "--pretrain_epochs=1",
  `--backend=${backend}`,
  "--quiet",
];
const magnitude = (args: string[]) => runCli("magnitude.ts", args);

interface Report {
  top1_dense: number;
  sweep: SweepPoint[];
  pruning: { perLayer: { name: string; before: number; after: number }[] }[];
}

Deno.test("magnitude global sweep: seed-style table, report.json sweep, per-layer rows, SVG plot", () =>
  withTempDir(async (dir) => {
    const r = await magnitude([...small, "--p_prune=0,1,0.5", `--out=${dir}`]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /p_prune\s+pruning ratio\s+top-1/);
    match(r.stdout, /^\s+0\.50\s+50\.\d\d%\s+\d+\.\d\d%$/m);
    const rep = await readReport<Report>(dir);
    deepEqual(rep.sweep.map((p) => p.p_prune), [0, 1, 0.5]);
    deepEqual(rep.sweep.map((p) => p.p_bern), [1, 1, 1]);
    equal(rep.sweep[0].pruned_fraction, 0);
    equal(rep.sweep[0].top1, rep.top1_dense, "p_prune 0 is the dense model");
    ok(rep.top1_dense >= 0.3, `the trained LeNet-5 beats chance (0.1): ${rep.top1_dense}`);
    equal(rep.sweep[1].pruned_fraction, 1);
    deepEqual(rep.pruning[0].perLayer.map((l) => l.name), ["conv1/kernel", "conv2/kernel"]);
    equal(rep.pruning[1].perLayer.reduce((n, l) => n + l.after, 0), 0);
    // the saved model is the last point's (p_prune 0.5): its pruned fraction, counted in the weights
    const saved = await loadModel(`${dir}/model`);
    const convs = saved.layers.filter((l) => l.getClassName() === "Conv2D");
    const w = (await Promise.all(convs.map((l) => l.getWeights()[0].data()))).flatMap((
      v,
    ) => [...v]);
    saved.dispose();
    const zeros = w.filter((v) => v === 0).length;
    equal(zeros, w.length / 2, `${zeros} of ${w.length} conv weights are zero`);
    equal(rep.sweep[2].pruned_fraction, zeros / w.length);
    match(await Deno.readTextFile(`${dir}/sweep.svg`), /^<svg/);
    ok((await Deno.stat(`${dir}/model/model.json`)).isFile);
  }));

Deno.test("magnitude gradient pruning with fine-tuning runs; the saved model is plain Conv2D", () =>
  withTempDir(async (dir) => {
    const r = await magnitude([
      ...small,
      "--prune_type=gradient",
      "--p_prune=0.5",
      "--p_bern=0.5",
      "--finetune_epochs=1",
      `--out=${dir}`,
    ]);
    equal(r.code, 0, r.stderr);
    const rep = await readReport<Report>(dir);
    equal(rep.sweep.length, 1);
    // expected pruned fraction per backward: candidates (half) times p_bern
    ok(Math.abs(rep.sweep[0].pruned_fraction - 0.25) < 1e-3, `${rep.sweep[0].pruned_fraction}`);
    const json = await Deno.readTextFile(`${dir}/model/model.json`);
    ok(!json.includes("GradientPrunedConv2D") && json.includes("Conv2D"));
  }));

Deno.test("magnitude: bad flags exit 2 with one line naming the value", async () => {
  match(oneLineError(await magnitude(["--p_prune=0,1.5"])), /^error: --p_prune .*1\.5/);
  const mix = await magnitude([
    "--quiet",
    `--backend=${backend}`,
    "--prune_type=gradient",
    "--granularity=kernel",
  ]);
  equal(
    oneLineError(mix),
    "error: --granularity kernel works with --prune_type global only; " +
      "gradient pruning thresholds single weights",
  );
});
