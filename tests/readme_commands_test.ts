/**
 * Every `deno task ...` command README.md and docs/methods.md print (in `sh`
 * blocks and inline) runs as printed:
 *
 * - each names a task of deno.json and files that exist, and no inline
 *   command is broken across lines (a copy would run half of it);
 * - each pipeline command parses (flag names and values) and, unless it reads
 *   what an earlier command writes (`runs/...`, `/tmp/k`), passes its
 *   pipeline's whole preflight: parts, `--plugin` modules, options, budgets
 *   and the model it builds (in-process: parse + build, nothing trained);
 * - the sweep commands resolve their spec and points (`--dry_run`), and the
 *   other tools' flags parse (`--help` after the README's flags);
 * - "Deploying a pruned model" (train a teacher, prune it with filter_taylor,
 *   export it, then the speedup command on the two) runs in order, with
 *   flags appended that only make it small and `runs/` in a temporary
 *   directory.
 *
 * The long commands run for real elsewhere: the plugin commands in
 * tests/examples_test.ts, `train_teacher --lr 1e9` in
 * tests/non_finite_test.ts, the sweeps in tests/sweep_*_test.ts.
 */
import {
  type BackendName,
  commonFlags,
  exportFlags,
  type FlagDefs,
  importPlugin,
  initBackend,
  parseFlags,
  type PipelineSpec,
  Registry,
} from "@shears/core";
import { pipelineScripts } from "../pipelines/mod.ts";
import { equal, ok } from "./assert.ts";
import { testContext } from "./context.ts";
import { runDeno } from "./subprocess.ts";
import { testBackend, withTempDir } from "../pipelines/test_harness.ts";

const root = new URL("..", import.meta.url).pathname;
/** README.md, then docs/methods.md (the method pipelines' commands). */
const readme = (await Promise.all(
  ["README.md", "docs/methods.md"].map((f) => Deno.readTextFile(`${root}${f}`)),
)).join("\n");
const tasks = Object.keys(
  (JSON.parse(await Deno.readTextFile(`${root}deno.json`)) as { tasks: Record<string, string> })
    .tasks,
);

const fenced = /```sh\n([\s\S]*?)```/g;
/** A command line without its comment, `&`, `; wait` and leading VAR=value settings. */
const clean = (line: string) =>
  line.replace(/\s+#.*$/, "").replace(/(\s*&|;\s*wait)\s*$/, "").replace(/^(\w+=\S+\s+)+/, "")
    .trim();
const blockCommands = [...readme.matchAll(fenced)].flatMap((m) => m[1].split("\n"))
  .map(clean).filter((l) => l.startsWith("deno task "));
const inlineSpans = [...readme.replace(fenced, "").matchAll(/`([^`]*deno task [^`]*)`/g)]
  .map((m) => m[1]);
const inlineCommands = inlineSpans.map(clean).filter((l) => l.startsWith("deno task "));
/** Every command, once; those with a placeholder (`<name>`, `[flags]`, `DIR`) are templates. */
const commands = [...new Set([...blockCommands, ...inlineCommands])];
const runnable = commands.filter((c) => !/<|\[|\bDIR\b/.test(c));

const specs: Record<string, PipelineSpec<FlagDefs>> = Object.fromEntries(
  Object.entries(pipelineScripts).map(([script, spec]) => [`pipelines/${script}`, spec]),
);

/** The words of a command after `deno task`: the task, then its arguments. */
const words = (command: string) => command.split(/\s+/).slice(2);
/** Whether a command reads what an earlier README command writes. */
const readsEarlier = (args: string[]) => args.some((a) => /^(runs\/|\/tmp\/k)/.test(a));

Deno.test("README commands: known tasks, existing files, none broken across lines", async () => {
  ok(commands.length >= 20, `found ${commands.length} commands`);
  for (const span of inlineSpans) ok(!span.includes("\n"), `one line: ${span}`);
  for (const command of commands) {
    const [task, ...args] = words(command);
    ok(tasks.includes(task), `${command}: task '${task}' is in deno.json`);
    const files = args.filter((a) => /^(\.\/)?(pipelines|examples)\/[^<]*\.(ts|yaml)$/.test(a));
    for (const file of files) {
      ok((await Deno.stat(`${root}${file}`)).isFile, `${command}: ${file} exists`);
    }
  }
});

const backend = testBackend("cpu");

/** Parses `args` as the pipeline does and, with `build`, runs its preflight (nothing is trained). */
async function preflight(spec: PipelineSpec<FlagDefs>, args: string[], build: boolean) {
  const defs = { ...commonFlags, ...exportFlags, ...spec.flags };
  const flags = parseFlags(defs, args, spec) as Record<string, unknown> & {
    plugin?: string[];
    seed: number;
  };
  if (!build) return;
  const registry = new Registry(spec.plugins ?? [], spec.partsFrom ?? []);
  for (const p of flags.plugin ?? []) registry.add(await importPlugin(p));
  const ctx = testContext({ registry, config: flags, seed: flags.seed });
  const info = await initBackend(backend as BackendName, { quiet: true });
  // deno-lint-ignore no-explicit-any
  const stages = await spec.build(flags as any, ctx, () => Promise.resolve(info));
  ok(stages.length > 0, "a stage list");
}

for (const command of runnable.filter((c) => words(c)[0] === "run")) {
  const [, script, ...args] = words(command);
  const build = !readsEarlier(args);
  Deno.test(`README ${build ? "preflight" : "parse"}: ${command.slice(10)}`, async () => {
    const spec = specs[script];
    ok(spec, `${script} is a pipeline this test knows`);
    await preflight(spec, args, build);
  });
}

for (
  const command of runnable.filter((c) => !["run", "test", "check", "serve"].includes(words(c)[0]))
) {
  const [task, ...args] = words(command);
  const dry = task === "sweep" && args[0]?.endsWith(".yaml");
  Deno.test(`README ${dry ? "dry run" : "flags"}: ${command.slice(10)}`, async () => {
    const out = await runDeno(
      ["task", "--quiet", task, ...args, dry ? "--dry_run" : "--help"],
      root,
    );
    equal(out.code, 0, out.stderr);
  });
}

/** Flags appended to each step of "Deploying a pruned model" that only make it small. */
const SMALL: Record<string, string[]> = {
  "pipelines/train_teacher.ts": ["--epochs=1", "--limit_train=256", "--limit_test=128"],
  "pipelines/filter_taylor.ts": [
    "--limit_train=128",
    "--limit_test=128",
    "--iterations=1",
    "--finetune_epochs=0",
    "--final_epochs=0",
    "--latency_batch=4",
  ],
  "pipelines/export.ts": [],
  speedup: ["--rounds=1", "--runs=1", "--batch=4"],
};

Deno.test("README: Deploying a pruned model runs in order (small, runs/ in a temporary directory)", () =>
  withTempDir(async (dir) => {
    const block = [...readme.matchAll(fenced)].map((m) => m[1])
      .find((b) => b.includes("pipelines/export.ts"))!;
    const steps = block.split("\n").map(clean).filter((l) => l.startsWith("deno task run "));
    const speedup = commands.find((c) => c.startsWith("deno task speedup "))!;
    equal(steps.length, 3, block);
    for (const step of [...steps, speedup]) {
      const [task, ...args] = words(step);
      const key = task === "run" ? args[0] : task;
      const moved = args.map((a) => a.replace(/^runs\//, `${dir}/`).replace(/,runs\//, `,${dir}/`));
      const small = [...SMALL[key], `--backend=${testBackend("wasm")}`];
      const out = await runDeno(["task", "--quiet", task, ...moved, ...small], root);
      equal(out.code, 0, `${step}\n${out.stderr}`);
    }
    ok((await Deno.stat(`${dir}/pruned/export_float16/model.json`)).isFile, "the float16 export");
  }));
