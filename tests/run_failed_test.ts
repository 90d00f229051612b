/**
 * A run that fails after its run directory exists still writes report.json:
 * `status: "failed"` and `error`, the line the user saw: a non-finite loss
 * (NonFiniteError, exit 2), a user-facing error thrown by a part at run time
 * (exit 2, one line) and an unexpected one (exit 1, its stack printed, the
 * report holding its message). A MAC target the pruning does not reach is
 * said in the log and the report, and the run still completes.
 */
import { equal, match, ok } from "./assert.ts";
import { oneLineError, runDeno, runTaskArgs } from "./subprocess.ts";
import { readReport, testBackend, withTempDir } from "../pipelines/test_harness.ts";

const root = new URL("..", import.meta.url).pathname;
const tiny = ["--limit_train=64", "--limit_test=32", "--batch_size=32", "--no-export"];
const backend = () => `--backend=${testBackend("cpu")}`;

interface Report {
  status: string;
  error?: string;
  target_reached?: boolean;
  iterations?: unknown[];
}

Deno.test("a diverging run: exit 2, report.json failed with the line printed", () =>
  withTempDir(async (dir) => {
    const out = await runDeno(
      runTaskArgs("train_teacher.ts", [
        "--lr=1e9",
        "--epochs=2",
        ...tiny,
        backend(),
        "--quiet",
        `--out=${dir}/run`,
      ]),
      root,
    );
    const line = oneLineError(out);
    match(line, /^error: loss is (NaN|Infinity|-Infinity) at epoch 1\/2, batch \d+\/2/);
    const report = await readReport<Report>(`${dir}/run`);
    equal(report.status, "failed");
    equal(`error: ${report.error}`, line);
  }));

/** A plugin whose weights scorer fails when asked for scores, with `error` (JS source). */
async function failingPlugin(dir: string, error: string): Promise<string> {
  const path = `${dir}/failing.ts`;
  await Deno.writeTextFile(
    path,
    `export default {
  name: "failing",
  scorers: {
    boom: {
      target: "weights",
      description: "fails at scoring time",
      batches: 0,
      start: () => ({ taps: [], scores: () => { throw ${error}; }, dispose() {} }),
    },
  },
};
`,
  );
  return path;
}

const pruneWith = (plugin: string, dir: string) =>
  runTaskArgs("prune.ts", [
    `--plugin=${plugin}`,
    "--scorer=failing/boom",
    "--pretrain_epochs=1",
    ...tiny,
    backend(),
    "--quiet",
    `--out=${dir}/run`,
  ]);

Deno.test("a user-facing error at run time: one line, exit 2, report.json failed with it", () =>
  withTempDir(async (dir) => {
    const plugin = await failingPlugin(
      dir,
      `Object.assign(new Error("the scorer needs a calibration file"), { userFacing: true })`,
    );
    const line = oneLineError(await runDeno(pruneWith(plugin, dir), root));
    equal(line, "error: the scorer needs a calibration file");
    const report = await readReport<Report>(`${dir}/run`);
    equal(report.status, "failed");
    equal(report.error, "the scorer needs a calibration file");
  }));

Deno.test("an unexpected error at run time: its stack, exit 1, report.json failed with its message", () =>
  withTempDir(async (dir) => {
    const plugin = await failingPlugin(dir, `new RangeError("index 12 out of range")`);
    const out = await runDeno(pruneWith(plugin, dir), root);
    equal(out.code, 1, out.stderr);
    match(out.stderr, /RangeError: index 12 out of range\n\s+at /);
    const report = await readReport<Report>(`${dir}/run`);
    equal(report.status, "failed");
    equal(report.error, "index 12 out of range");
  }));

/** prune.ts cutting lenet5's channels toward `--speed_up <speedUp>` (with `extra` flags). */
const pruneToward = (dir: string, speedUp: number, extra: string[] = []) =>
  runDeno(
    runTaskArgs("prune.ts", [
      "--scorer=filter_taylor/l1",
      `--speed_up=${speedUp}`,
      ...extra,
      "--pretrain_epochs=1",
      "--latency_batch=4",
      ...tiny,
      backend(),
      "--quiet",
      `--out=${dir}/run`,
    ]),
    root,
  );

Deno.test("--speed_up not reached: a warning, target_reached false, exit 0", () =>
  withTempDir(async (dir) => {
    const out = await pruneToward(dir, 1000, ["--iterations=2"]);
    equal(out.code, 0, out.stderr);
    const warnings = out.stderr.split("\n").filter((l) => l.includes("warning:"));
    equal(warnings.length, 1, out.stderr);
    match(
      warnings[0],
      /^target: warning: --speed_up 1000 not reached: the pruning stopped at x[\d.]+ fewer MACs \(\d+ -> \d+; the target needs <= \d+\)$/,
    );
    const report = await readReport<Report>(`${dir}/run`);
    equal(report.status, "completed");
    equal(report.target_reached, false);
    equal(report.iterations?.length, 2);
  }));

Deno.test("--speed_up reached: target_reached true, no warning", () =>
  withTempDir(async (dir) => {
    const out = await pruneToward(dir, 1.05);
    equal(out.code, 0, out.stderr);
    ok(!out.stderr.includes("warning:"), out.stderr);
    equal((await readReport<Report>(`${dir}/run`)).target_reached, true);
  }));
