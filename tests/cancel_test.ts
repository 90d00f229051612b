/**
 * Ctrl-C outside training loops: SIGINT while intra_fusion runs its
 * (group, sparsity) points ends the run at the next point with status
 * `cancelled` in report.json and exit code 130, and the message says no
 * checkpoint exists (intra_fusion trains nothing after pretraining here).
 */
import { equal, match, ok } from "./assert.ts";
import { readReport, testBackend, withTempDir } from "../pipelines/test_harness.ts";
import { interruptAt } from "./subprocess.ts";

Deno.test("SIGINT during intra_fusion's points: exit 130, status cancelled, later points not run", () =>
  withTempDir(async (dir) => {
    const args = [
      "run",
      "-A",
      "pipelines/intra_fusion.ts",
      "--model=mlp",
      "--width=0.25",
      "--pad=0",
      "--limit_train=256",
      "--limit_test=256",
      "--epochs=1",
      "--group_idxs=0,1",
      "--sparsities=0.1,0.3,0.5,0.7,0.9",
      `--backend=${testBackend("cpu")}`,
      `--out=${dir}/run`,
    ];
    const { code, stderr } = await interruptAt(
      args,
      /group 0 \(fc2, 32 ch\) sparsity 0.1:/, // the first point is done: Ctrl-C
    );
    equal(code, 130, stderr);
    match(stderr, /cancelled before any checkpoint; the report is in .*run\/report.json/);
    const report = await readReport<{ status: string; results?: unknown[] }>(`${dir}/run`);
    equal(report.status, "cancelled");
    ok((report.results?.length ?? 0) < 10, `stopped early: ${report.results?.length} of 10 points`);
  }));
