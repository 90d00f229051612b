/**
 * End-to-end smoke tests of pipelines/magnitude.ts as a user runs it (a
 * subprocess with the `run` task's permissions), on a small LeNet-5 trained
 * for one epoch on 128 embedded MNIST digits.
 */
import { deepEqual, equal, match, ok } from "../tests/assert.ts";

const root = new URL("..", import.meta.url).pathname;
const backend = Deno.env.get("SHEARS_TEST_BACKEND") ?? "cpu";
const runFlags = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net=localhost",
  "--allow-sys",
  "--allow-ffi",
  "--unstable-webgpu",
];
const small = [
  "--model=lenet5",
  "--width=1",
  "--limit_train=128",
  "--limit_test=128",
  "--batch_size=32",
  "--pretrain_epochs=1",
  `--backend=${backend}`,
  "--quiet",
];

async function magnitude(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...runFlags, "pipelines/magnitude.ts", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

interface Report {
  top1_dense: number;
  sweep: { p_prune: number; p_bern: number; pruned_fraction: number; top1: number }[];
  pruning: { perLayer: { name: string; before: number; after: number }[] }[];
}

Deno.test("magnitude global sweep: seed-style table, report.json sweep, per-layer rows, SVG plot", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await magnitude([...small, "--p_prune=0,0.5,1", `--out=${dir}`]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /p_prune\s+pruning ratio\s+top-1/);
    match(r.stdout, /^\s+0\.50\s+50\.\d\d%\s+\d+\.\d\d%$/m);
    const rep = JSON.parse(await Deno.readTextFile(`${dir}/report.json`)) as Report;
    deepEqual(rep.sweep.map((p) => p.p_prune), [0, 0.5, 1]);
    deepEqual(rep.sweep.map((p) => p.p_bern), [1, 1, 1]);
    equal(rep.sweep[0].pruned_fraction, 0);
    equal(rep.sweep[0].top1, rep.top1_dense, "p_prune 0 is the dense model");
    ok(Math.abs(rep.sweep[1].pruned_fraction - 0.5) < 1e-3);
    equal(rep.sweep[2].pruned_fraction, 1);
    deepEqual(rep.pruning[0].perLayer.map((l) => l.name), ["conv1/kernel", "conv2/kernel"]);
    equal(rep.pruning[2].perLayer.reduce((n, l) => n + l.after, 0), 0);
    match(await Deno.readTextFile(`${dir}/sweep.svg`), /^<svg/);
    ok((await Deno.stat(`${dir}/model/model.json`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("magnitude gradient pruning with fine-tuning runs; the saved model is plain Conv2D", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await magnitude([
      ...small,
      "--prune_type=gradient",
      "--p_prune=0.5",
      "--p_bern=0.5",
      "--finetune_epochs=1",
      `--out=${dir}`,
    ]);
    equal(r.code, 0, r.stderr);
    const rep = JSON.parse(await Deno.readTextFile(`${dir}/report.json`)) as Report;
    equal(rep.sweep.length, 1);
    // expected pruned fraction per backward: candidates (half) times p_bern
    ok(Math.abs(rep.sweep[0].pruned_fraction - 0.25) < 1e-3, `${rep.sweep[0].pruned_fraction}`);
    const json = await Deno.readTextFile(`${dir}/model/model.json`);
    ok(!json.includes("GradientPrunedConv2D") && json.includes("Conv2D"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("magnitude: bad flags exit 2 with one line naming the value", async () => {
  const bad = await magnitude(["--p_prune=0,1.5"]);
  equal(bad.code, 2);
  match(bad.stderr, /^error: --p_prune .*1\.5.*\n$/);
  const mix = await magnitude(["--quiet", "--prune_type=gradient", "--granularity=kernel"]);
  equal(mix.code, 2);
  equal(
    mix.stderr.split("\n").filter((l) => l.startsWith("error")).join("\n"),
    "error: --granularity kernel works with --prune_type global only; " +
      "gradient pruning thresholds single weights",
  );
  ok(!mix.stderr.includes("    at "), "no stack trace");
});
