/**
 * The README's plugin commands run as printed: every `deno task run
 * pipelines/... --plugin ./examples/...` line of README.md, with flags
 * appended that only make the run small (tiny models and data, few epochs),
 * exits 0, and the report says the example's scorer did the scoring.
 */
import { equal, ok } from "./assert.ts";
import { readReport, runCli, testBackend, withTempDir } from "../pipelines/test_harness.ts";
import { SMALL } from "./small_runs.ts";

const backend = testBackend("wasm");

const COMMON = [
  "--limit_train=32",
  "--limit_test=32",
  "--batch_size=32",
  "--pretrain_epochs=1",
  "--epochs=1",
  "--teacher_epochs=1",
  `--backend=${backend}`,
  "--quiet",
];
/** Flags each pipeline takes (of COMMON). */
const TAKES: Record<string, string[]> = {
  "magnitude.ts": ["limit", "batch_size", "pretrain_epochs"],
  "filter_taylor.ts": ["limit", "batch_size", "pretrain_epochs"],
  "rni.ts": ["limit", "batch_size", "epochs"],
  "intra_fusion.ts": ["limit", "epochs"],
  "relu_taylor.ts": ["limit", "batch_size", "teacher_epochs"],
  "prune.ts": ["limit", "batch_size", "pretrain_epochs"],
};

const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
const commands = readme.split("\n").filter((l) =>
  l.startsWith("deno task run pipelines/") && l.includes("--plugin ./examples/")
);

Deno.test("the README prints a plugin command for each example in each pipeline of its target", () => {
  const pairs = commands.map((c) => `${c.split(" ")[3]} ${c.match(/--plugin (\S+)/)![1]}`).sort();
  equal(
    pairs.join("\n"),
    [
      "pipelines/filter_taylor.ts ./examples/filter_norm.ts",
      "pipelines/intra_fusion.ts ./examples/filter_norm.ts",
      "pipelines/magnitude.ts ./examples/relative_magnitude.ts",
      "pipelines/prune.ts ./examples/activation_gradient.ts",
      "pipelines/prune.ts ./examples/filter_norm.ts",
      "pipelines/prune.ts ./examples/relative_magnitude.ts",
      "pipelines/relu_taylor.ts ./examples/activation_gradient.ts",
      "pipelines/rni.ts ./examples/filter_norm.ts",
    ].join("\n"),
  );
});

for (const command of commands) {
  const [, , , path, ...args] = command.split(" ");
  const script = path.replace("pipelines/", "");
  const scorer = args[args.indexOf("--scorer") + 1];
  Deno.test(`README: ${command.slice(14)}`, () =>
    withTempDir(async (dir) => {
      const common = COMMON.filter((f) =>
        TAKES[script].some((t) => f.startsWith(`--${t}`)) || /--(backend|quiet)/.test(f)
      );
      const out = await runCli(script, [...args, ...SMALL[script], ...common, `--out=${dir}/run`]);
      equal(out.code, 0, out.stderr);
      const report = await readReport<{ status: string; flags: { scorer: string } }>(`${dir}/run`);
      equal(report.status, "completed");
      equal(report.flags.scorer, scorer);
      ok((await Deno.stat(`${dir}/run/model/model.json`)).isFile, "the pruned model is saved");
    }));
}
