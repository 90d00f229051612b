/**
 * A method pipeline takes another method's part by its full name (its
 * `partsFrom`: every shipped plugin), as the README says: filter_taylor
 * prunes with intra_fusion's l1 scorer (and prunes other filters than with
 * its own l1: the two norms differ), intra_fusion fuses by filter_taylor's
 * Taylor ranks; the short names stay the pipeline's own.
 */
import { equal, notEqual } from "./assert.ts";
import { readReport, runCli, testBackend, withTempDir } from "../pipelines/test_harness.ts";
import { SMALL } from "./small_runs.ts";

const backend = `--backend=${testBackend("wasm")}`;
const small = ["--limit_train=32", "--limit_test=32", "--quiet", "--no-export", backend];
const FILTER_TAYLOR = [...SMALL["filter_taylor.ts"], "--batch_size=32", "--pretrain_epochs=1"];

interface Report {
  status: string;
  layers: { after: number }[];
  results?: { kept: number }[];
}

/** Runs `script` with `args` into `<dir>/<name>`; returns its report (the run must succeed). */
async function run(dir: string, name: string, script: string, args: string[]): Promise<Report> {
  const out = await runCli(script, [...args, ...small, `--out=${dir}/${name}`]);
  equal(out.code, 0, out.stderr);
  const report = await readReport<Report>(`${dir}/${name}`);
  equal(report.status, "completed");
  return report;
}

Deno.test("filter_taylor with intra_fusion's l1 scorer: runs, and prunes other filters than its own l1", () =>
  withTempDir(async (dir) => {
    const theirs = await run(dir, "theirs", "filter_taylor.ts", [
      "--scorer=intra_fusion/l1",
      ...FILTER_TAYLOR,
    ]);
    const own = await run(dir, "own", "filter_taylor.ts", ["--scorer=l1", ...FILTER_TAYLOR]);
    const widths = (r: Report) => r.layers.map((l) => l.after);
    equal(widths(theirs).reduce((a, b) => a + b), widths(own).reduce((a, b) => a + b), "8 cut");
    notEqual(`${widths(theirs)}`, `${widths(own)}`, "the scorer named is the one that scored");
  }));

Deno.test("intra_fusion with filter_taylor's Taylor scorer: every point measured", () =>
  withTempDir(async (dir) => {
    const report = await run(dir, "run", "intra_fusion.ts", [
      "--scorer=filter_taylor/taylor",
      ...SMALL["intra_fusion.ts"],
      "--epochs=1",
    ]);
    equal(report.results?.length, 1);
  }));
