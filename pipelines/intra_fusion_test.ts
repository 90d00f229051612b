/**
 * End-to-end smoke tests of pipelines/intra_fusion.ts as a user runs it (a
 * subprocess with the `run` task's permissions), on a small MLP trained for
 * two epochs on 1024 embedded MNIST digits (conv nets are slow on the cpu backend).
 */
import { deepEqual, equal, match, ok } from "../tests/assert.ts";
import { oneLineError } from "../tests/subprocess.ts";
import type { FusionResult } from "./intra_fusion.ts";
import { readReport, runCli, testBackend, withTempDir } from "./test_harness.ts";

const small = [
  "--model=mlp",
  "--width=0.25",
  "--pad=0",
  "--limit_train=1024",
  "--limit_test=256",
  "--epochs=2",
  `--backend=${testBackend("cpu")}`,
  "--quiet",
];
const intraFusion = (args: string[]) => runCli("intra_fusion.ts", args);

interface Report {
  base_top1: number;
  results: FusionResult[];
}

Deno.test("intra_fusion: table, report.json results per (group, sparsity), SVG plot", () =>
  withTempDir(async (dir) => {
    const r = await intraFusion([
      ...small,
      "--group_idxs=0,1",
      "--sparsities=0.5,0.75",
      "--scorer=taylor",
      `--out=${dir}`,
    ]);
    equal(r.code, 0, r.stderr);
    match(
      r.stdout,
      /\| group \| id \| channels \| kept \| sparsity \| default top-1 \| fusion top-1 \|/,
    );
    match(r.stdout, /mean: default \d+\.\d\d%, fusion \d+\.\d\d%; fusion better in \d\/4/);
    const rep = await readReport<Report>(dir);
    // The MLP's prunable groups from the output: fc2 (32 units), fc1 (64).
    deepEqual(
      rep.results.map((x) => [x.group, x.group_id, x.channels, x.kept, x.sparsity]),
      [
        [0, "fc2", 32, 16, 0.5],
        [0, "fc2", 32, 8, 0.75],
        [1, "fc1", 64, 32, 0.5],
        [1, "fc1", 64, 16, 0.75],
      ],
    );
    for (const x of rep.results) {
      ok(x.default_top1 >= 0 && x.default_top1 <= 1 && x.fusion_top1 >= 0 && x.fusion_top1 <= 1);
    }
    ok(rep.base_top1 > 0.5, `the pretrained model should learn something, got ${rep.base_top1}`);
    const svg = await Deno.readTextFile(`${dir}/accuracy.svg`);
    match(svg, /^<svg/);
    match(svg, /group 1 fusion/);
  }));

Deno.test("intra_fusion: a group index out of range is one clear line, exit 2", () =>
  withTempDir(async (dir) => {
    const r = await intraFusion([...small, "--group_idxs=7", "--sparsities=0.5", `--out=${dir}`]);
    match(
      oneLineError(r),
      /--group_idxs 7 is out of range: the model has 2 prunable groups \(0\.\.1\)/,
    );
  }));
