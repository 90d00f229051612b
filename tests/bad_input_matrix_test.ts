/**
 * Bad flags on every pipeline, generated from its FlagDefs: for each flag an
 * unknown name, a misspelling (edit distance 1: "did you mean" names it), a
 * wrong type, a missing value, values out of range (min / max) and a bad
 * choice. Each must be a user error of one line naming the flag. They are
 * parsed in this process the way runMain parses (`parseRunFlags`); then a
 * few per pipeline run as a user runs them (a subprocess): one line on
 * stderr, exit 2, no stack trace, and no run directory left, also for errors
 * found after the backend started (a model that does not fit the data).
 */
import {
  errorLine,
  type FlagDef,
  type FlagDefs,
  isUserFacing,
  parseFlags,
  parseRunFlags,
  type PipelineSpec,
  runFlagDefs,
} from "@shears/core";
import { pipelineScripts } from "@shears/pipelines";
import { summaryFlags } from "../pipelines/summary.ts";
import { equal, match, ok } from "./assert.ts";
import { oneLineError, repoRoot, runDeno, runTaskArgs } from "./subprocess.ts";
import { testBackend, withTempDir } from "../pipelines/test_harness.ts";

/** One bad command line and the error line it must give. */
interface Case {
  kind: string;
  args: string[];
  expect: RegExp;
}

const esc = (s: string | number) => String(s).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The bad inputs for flag `name`. */
function casesFor(name: string, d: FlagDef): Case[] {
  const flag = `--${name}`, out: Case[] = [];
  out.push({
    kind: "unknown",
    args: [`${flag}zzzz`],
    expect: new RegExp(`^unknown flag ${esc(flag)}zzzz \\(--help lists the flags\\)$`),
  });
  const typo = `--${name[0]}${name}`; // the first letter doubled
  out.push({
    kind: "misspelled",
    args: [typo],
    expect: new RegExp(
      `^unknown flag ${esc(typo)}; did you mean ${esc(flag)}\\? \\(--help lists the flags\\)$`,
    ),
  });
  if (d.type === "boolean") {
    out.push({
      kind: "wrong type",
      args: [`${flag}=maybe`],
      expect: new RegExp(`^${esc(flag)} is a switch and takes no value`),
    });
    return out;
  }
  out.push({
    kind: "missing value",
    args: [flag],
    expect: new RegExp(`^${esc(flag)} needs a value$`),
  });
  if (d.type === "entries") {
    out.push({
      kind: "wrong type",
      args: [`${flag}=novalue`],
      expect: new RegExp(`^${esc(flag)} needs key=value, got novalue$`),
    });
  }
  if (d.type === "number" || d.type === "int" || d.type === "numbers") {
    const what = d.type === "int" ? "an integer" : "a number";
    out.push({
      kind: "wrong type",
      args: [`${flag}=abc`],
      expect: new RegExp(`^${esc(flag)} must be ${what}, got abc$`),
    });
    if (d.type === "int") {
      out.push({
        kind: "not whole",
        args: [`${flag}=1.5`],
        expect: new RegExp(`^${esc(flag)} must be an integer, got 1.5$`),
      });
    }
    if (d.min !== undefined) {
      const v = d.minExclusive ? d.min : d.min - 1;
      out.push({
        kind: "below min",
        args: [flag, String(v)], // a negative value as its own argument, as users type it
        expect: new RegExp(
          `^${esc(flag)} must be (in [[(]${esc(d.min)}, .*|>=? ${esc(d.min)}), got ${esc(v)}$`,
        ),
      });
    }
    if (d.max !== undefined) {
      const v = d.maxExclusive ? d.max : d.max + 1;
      out.push({
        kind: "above max",
        args: [`${flag}=${v}`],
        expect: new RegExp(
          `^${esc(flag)} must be (in [[(].*, ${esc(d.max)}[\\])]|<=? ${esc(d.max)}), got ${
            esc(v)
          }$`,
        ),
      });
    }
  }
  if (d.choices) {
    out.push({
      kind: "bad choice",
      args: [`${flag}=nope`],
      expect: new RegExp(`^${esc(flag)} must be one of ${esc(d.choices.join(", "))}, got nope$`),
    });
  }
  if (name === "config") {
    out.push({
      kind: "missing file",
      args: [`${flag}=/nonexistent/recipe.yaml`],
      expect: /^--config \/nonexistent\/recipe\.yaml: no such file$/,
    });
  }
  if (name === "resume") {
    out.push({
      kind: "missing run",
      args: [`${flag}=/nonexistent/run`],
      expect: /^--resume \/nonexistent\/run: no such run directory$/,
    });
  }
  return out;
}

/** Every case of every flag in `defs`. */
const matrix = (defs: FlagDefs) => Object.entries(defs).flatMap(([n, d]) => casesFor(n, d));

// deno-lint-ignore no-explicit-any
type AnySpec = PipelineSpec<any>;

/** The pipelines run by runMain, by script. */
const pipelines: Record<string, AnySpec> = pipelineScripts;

/** The error line `parse(args)` throws, checked to be a one-line user error. */
async function errorOf(parse: () => unknown, c: Case, where: string): Promise<string> {
  try {
    await parse();
  } catch (e) {
    ok(isUserFacing(e), `${where} ${c.kind} ${c.args.join(" ")}: not a user error: ${e}`);
    ok(!(e as Error).message.includes("\n"), `${where}: one line`);
    return errorLine(e);
  }
  throw new Error(`${where} ${c.kind} ${c.args.join(" ")}: accepted`);
}

Deno.test("bad flags on every pipeline: one line naming the flag, for every flag", async () => {
  let n = 0;
  for (const [script, spec] of Object.entries(pipelines)) {
    const cases = matrix(runFlagDefs(spec));
    ok(cases.length > 20, `${script}: ${cases.length} cases`);
    for (const c of cases) {
      match(await errorOf(() => parseRunFlags(spec, c.args), c, script), c.expect, script);
      n++;
    }
  }
  const info = { name: "summary", description: "" };
  for (const c of matrix(summaryFlags)) {
    match(await errorOf(() => parseFlags(summaryFlags, c.args, info), c, "summary.ts"), c.expect);
    n++;
  }
  ok(n > 500, `${n} cases`);
});

/**
 * Runs `script` as a user does, with `args` and `--out <dir>/run` (not for
 * summary, which writes nothing): one line, exit 2, and no run directory.
 */
async function fails(script: string, args: string[], dir: string): Promise<string> {
  const out = script === "summary.ts" ? [] : [`--out=${dir}/run`];
  const backend = `--backend=${testBackend("cpu")}`;
  const r = await runDeno(runTaskArgs(script, [...args, backend, ...out]), repoRoot);
  const line = oneLineError(r);
  ok(!(await Deno.stat(`${dir}/run`).then(() => true, () => false)), `${script}: run dir left`);
  return line;
}

/** Per script: a model that does not fit the data, found once the backend has started. */
const late: Record<string, [string[], RegExp]> = {
  "train_teacher.ts": [["--model=unet"], /--model unet cannot be built for mnist/],
  "relu_taylor.ts": [["--model_s=unet"], /--model unet cannot be built for mnist/],
  "magnitude.ts": [["--model=unet"], /--model unet cannot be built for mnist/],
  "filter_taylor.ts": [["--model=unet"], /--model unet cannot be built for mnist/],
  "rni.ts": [["--arch=unet"], /--model unet maps \[32,32,1\] to \[32,32,10\]/],
  "intra_fusion.ts": [["--model=unet"], /--model unet maps \[32,32,1\] to \[32,32,10\]/],
  "prune.ts": [["--model=unet"], /--model unet cannot be built for mnist/],
  "export.ts": [["--path=/nonexistent/model"], /^error: --path \/nonexistent\/model: there is no/],
  "validate.ts": [["--path=/nonexistent/model"], /\/nonexistent\/model/],
  "summary.ts": [
    ["--model=lenet5", "--width=1e6", "--dataset=mnist"],
    /width 1000000 makes a layer/,
  ],
};

Deno.test("bad input as a user runs it: one line, exit 2, no stack trace, no run directory", () =>
  withTempDir(async (dir) => {
    const scripts = Object.keys(late);
    const one = async (script: string) => {
      const sdir = `${dir}/${script}`;
      await Deno.mkdir(sdir);
      const defs = script === "summary.ts" ? summaryFlags : runFlagDefs(pipelines[script]);
      const typo = matrix(defs).find((c) => c.kind === "misspelled")!;
      match(
        await fails(script, typo.args, sdir),
        new RegExp(`^error: ${typo.expect.source.slice(1)}`),
      );
      const [args, expect] = late[script];
      match(await fails(script, args, sdir), expect);
    };
    // two at a time: each is a fresh deno process
    for (let i = 0; i < scripts.length; i += 2) await Promise.all(scripts.slice(i, i + 2).map(one));
    equal(scripts.length, 10);
  }));
