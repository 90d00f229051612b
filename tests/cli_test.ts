import {
  commonFlags,
  type FlagDefs,
  helpText,
  markUserFacing,
  parseFlags,
  renderEvents,
  type RunEvent,
  UsageError,
} from "@shears/core";
import { from, Observable, throwError } from "rxjs";
import { deepEqual, equal, match, ok, rejects } from "./assert.ts";
import { runDeno } from "./subprocess.ts";

const defs = {
  ...commonFlags,
  global_keep_ratio: {
    type: "number",
    default: 0.5,
    min: 0,
    max: 1,
    minExclusive: true,
    help: "fraction of weights kept",
  },
  epochs: { type: "int", default: 5, min: 1, help: "training epochs" },
  lr: { type: "number", help: "learning rate" },
  milestones: { type: "numbers", default: [10, 20], min: 0, help: "lr milestones" },
  layers: { type: "strings", choices: ["conv1", "conv2", "fc"], help: "layers to prune" },
  schedule: { type: "string", default: "cosine", choices: ["cosine", "step"], help: "schedule" },
  augment: { type: "boolean", default: true, help: "augment the data" },
  iterations: { type: "int", min: 1, excludes: ["speed_up"], help: "iterations" },
  speed_up: { type: "number", min: 1, help: "MAC reduction" },
  pair: {
    type: "numbers",
    help: "two numbers",
    validate: (v) => ((v as number[]).length === 2 ? undefined : "needs exactly 2 values"),
  },
} satisfies FlagDefs;
const info = { name: "demo", description: "A demo command." };

function usage(args: string[]): string {
  try {
    parseFlags(defs, args, info);
  } catch (e) {
    ok(e instanceof UsageError, `expected UsageError, got ${e}`);
    equal(e.message.includes("\n"), false, e.message);
    return e.message;
  }
  throw new Error(`no error for ${args.join(" ")}`);
}

Deno.test("parseFlags: defaults, typed values, lists, negation and negative numbers", () => {
  const f = parseFlags(defs, [], info);
  equal(f.global_keep_ratio, 0.5);
  equal(f.epochs, 5);
  equal(f.lr, undefined);
  deepEqual(f.milestones, [10, 20]);
  equal(f.augment, true);
  equal(f.quiet, false);
  equal(f.backend, "auto");
  equal(f.config, undefined);

  const g = parseFlags(defs, [
    "--global_keep_ratio",
    "1",
    "--epochs=3",
    "--lr",
    "-0.5",
    "--milestones",
    "1, 2.5,3",
    "--layers",
    "conv1,fc",
    "--no-augment",
    "--quiet",
    "--backend",
    "cpu",
  ], info);
  const typed: { global_keep_ratio: number; epochs: number; lr: number | undefined } = g;
  deepEqual(
    { ...typed, milestones: g.milestones, layers: g.layers, augment: g.augment, quiet: g.quiet },
    {
      ...typed,
      global_keep_ratio: 1,
      epochs: 3,
      lr: -0.5,
      milestones: [1, 2.5, 3],
      layers: ["conv1", "fc"],
      augment: false,
      quiet: true,
    },
  );
  equal(g.backend, "cpu");
});

Deno.test("parseFlags: bad flags give one-line UsageErrors naming value and what is accepted", () => {
  equal(usage(["--global_keep_ratio", "1.5"]), "--global_keep_ratio must be in (0, 1], got 1.5");
  equal(usage(["--global_keep_ratio", "0"]), "--global_keep_ratio must be in (0, 1], got 0");
  equal(usage(["--epochs", "2.5"]), "--epochs must be an integer, got 2.5");
  equal(usage(["--epochs", "0"]), "--epochs must be >= 1, got 0");
  equal(usage(["--lr", "fast"]), "--lr must be a number, got fast");
  equal(usage(["--milestones", "3,-1"]), "--milestones must be >= 0, got -1");
  equal(usage(["--schedule", "linear"]), "--schedule must be one of cosine, step, got linear");
  equal(usage(["--layers", "conv1,conv9"]), "--layers must be one of conv1, conv2, fc, got conv9");
  equal(usage(["--pair", "1,2,3"]), "--pair needs exactly 2 values");
  equal(
    usage(["--speed_up", "2", "--iterations", "3"]),
    "--iterations and --speed_up are alternatives; pass one",
  );
  equal(
    usage(["--epohcs", "3"]),
    "unknown flag --epohcs; did you mean --epochs? (--help lists the flags)",
  );
  equal(usage(["--zzzzzz"]), "unknown flag --zzzzzz (--help lists the flags)");
  equal(usage(["--epochs"]), "--epochs needs a value");
  equal(
    usage(["--quiet=yes"]),
    "--quiet is a switch and takes no value (use --quiet or --no-quiet)",
  );
  equal(usage(["resnet18"]), "unexpected argument resnet18; flags look like --name value");
  equal(
    usage(["--backend", "tpu"]),
    "--backend must be one of auto, tensorflow, webgpu, wasm, cpu, got tpu",
  );
});

Deno.test("parseFlags: --config values are used and the command line wins", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const yaml = `${dir}/recipe.yaml`;
    Deno.writeTextFileSync(
      yaml,
      "global_keep_ratio: 0.25\nepochs: 7\nmilestones: [3, 6]\naugment: false\nlayers: conv2\n",
    );
    const f = parseFlags(defs, ["--config", yaml, "--epochs", "2"], info);
    equal(f.global_keep_ratio, 0.25);
    equal(f.epochs, 2);
    deepEqual(f.milestones, [3, 6]);
    equal(f.augment, false);
    deepEqual(f.layers, ["conv2"]);
    equal(f.config, yaml);
    equal(parseFlags(defs, ["--config", yaml, "--augment"], info).augment, true);

    const json = `${dir}/recipe.json`;
    Deno.writeTextFileSync(json, JSON.stringify({ schedule: "step", lr: 0.1 }));
    const g = parseFlags(defs, [`--config=${json}`], info);
    equal(g.schedule, "step");
    equal(g.lr, 0.1);

    Deno.writeTextFileSync(yaml, "global_keep_ratio: 2\n");
    equal(usage(["--config", yaml]), "--global_keep_ratio must be in (0, 1], got 2");
    equal(
      parseFlags(defs, ["--config", yaml, "--global_keep_ratio", "0.9"], info).global_keep_ratio,
      0.9,
    );
    Deno.writeTextFileSync(yaml, "epoch: 3\n");
    match(usage(["--config", yaml]), /^--config .*recipe\.yaml: unknown flag 'epoch'; known: /);
    Deno.writeTextFileSync(yaml, "- 1\n- 2\n");
    match(usage(["--config", yaml]), /must be a mapping of flag names to values$/);
    Deno.writeTextFileSync(json, "{ bad");
    match(usage(["--config", json]), /^--config .*recipe\.json: /);
    match(usage(["--config", `${dir}/none.yaml`]), /^--config .*none\.yaml: no such file$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("--help text lists every flag with its help, default and range", () => {
  const text = helpText(defs, info);
  match(text, /^usage: demo \[flags\]/);
  ok(text.includes("A demo command."));
  for (const [name, d] of Object.entries(defs)) {
    ok(text.includes(`--${name}`), `--${name} missing from help`);
    ok(text.includes((d as { help: string }).help), `help of --${name} missing`);
  }
  ok(text.includes("--help"));
  match(
    text,
    /--global_keep_ratio <number>\s+fraction of weights kept \(in \(0, 1\]; default 0\.5\)/,
  );
  match(text, /--schedule <string>\s+schedule \(one of cosine, step; default cosine\)/);
});

/** Runs a tiny CLI script in a subprocess. */
async function runScript(body: string, args: string[]) {
  const root = new URL("..", import.meta.url);
  const dir = Deno.makeTempDirSync();
  try {
    const script = `${dir}/main.ts`;
    Deno.writeTextFileSync(
      script,
      `import { exitOnError, parseFlags } from "${new URL("core/cli.ts", root).href}";\n${body}`,
    );
    return await runDeno([
      "run",
      "--allow-all",
      "--config",
      new URL("deno.json", root).pathname,
      script,
      ...args,
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("subprocess: a bad flag exits 2 with exactly one line on stderr; --help exits 0", async () => {
  const body = `await exitOnError(async () => {
    const f = parseFlags({ ratio: { type: "number", min: 0, max: 1, help: "the ratio" } }, Deno.args,
      { name: "tiny", description: "Tiny." });
    if (f.ratio === 0.5) throw new Error("unexpected failure");
    console.log("ratio", f.ratio);
  });`;
  const bad = await runScript(body, ["--ratio", "7"]);
  equal(bad.code, 2);
  equal(bad.stderr, "error: --ratio must be in [0, 1], got 7\n");
  equal(bad.stdout, "");

  const help = await runScript(body, ["--help"]);
  equal(help.code, 0, help.stderr);
  match(help.stdout, /--ratio <number>\s+the ratio/);

  const crash = await runScript(body, ["--ratio", "0.5"]);
  equal(crash.code, 1);
  match(crash.stderr, /Error: unexpected failure\n\s+at /);
});

Deno.test("markUserFacing makes an error class print as a user error", () => {
  class ThingError extends Error {}
  ok(!(new ThingError("x") as { userFacing?: boolean }).userFacing);
  markUserFacing(ThingError);
  equal((new ThingError("x") as { userFacing?: boolean }).userFacing, true);
});

const progress = (current: number, total: number, values?: Record<string, number>): RunEvent => ({
  type: "progress",
  stage: "finetune",
  label: "epoch 1/2",
  current,
  total,
  values,
});

Deno.test("renderEvents, not a TTY: progress throttled to one line per 10%, logs as lines", async () => {
  let out = "";
  const events: RunEvent[] = [
    { type: "log", stage: "load", level: "info", message: "data: mnist" },
    ...Array.from({ length: 100 }, (_, i) => progress(i + 1, 100, { loss: 1 / (i + 1) })),
    { type: "metric", stage: "evaluate", name: "top1", value: 0.9 },
    { type: "artifact", stage: "finetune", kind: "checkpoint", path: "runs/x/checkpoint" },
    { type: "artifact", stage: "evaluate", kind: "plot", path: "runs/x/acc.svg" },
    { type: "log", stage: "evaluate", level: "warn", message: "low accuracy" },
  ];
  let t = 0;
  await renderEvents(from(events), { tty: false, write: (s) => (out += s), now: () => (t += 10) });
  const lines = out.trimEnd().split("\n");
  equal(lines[0], "load: data: mnist");
  const prog = lines.filter((l) => l.startsWith("finetune: epoch"));
  equal(prog.length, 11, prog.join("\n"));
  match(prog[1], /^finetune: epoch 1\/2 10\/100 \(10%\)\s+loss 0\.1000\s+ETA \d+s$/);
  equal(prog[10].startsWith("finetune: epoch 1/2 100/100 (100%)"), true);
  deepEqual(lines.slice(-2), [
    "evaluate: wrote plot runs/x/acc.svg",
    "evaluate: warning: low accuracy",
  ]);

  // slow progress prints at least every 15 s even within one 10% bucket
  out = "";
  t = 0;
  const slow = Array.from({ length: 5 }, (_, i) => progress(i + 1, 1000));
  await renderEvents(from(slow), {
    tty: false,
    write: (s) => (out += s),
    now: () => (t += 16_000),
  });
  equal(out.trimEnd().split("\n").length, 5);

  out = "";
  await renderEvents(from(events), { tty: false, quiet: true, write: (s) => (out += s) });
  equal(out, "evaluate: warning: low accuracy\n");
});

Deno.test("renderEvents, TTY: one bar redrawn in place with values and ETA", async () => {
  let out = "";
  let t = 0;
  const events: RunEvent[] = [
    progress(1, 4, { loss: 0.5, acc: 0.25 }),
    progress(2, 4, { loss: 0.4, acc: 0.5 }),
    { type: "log", stage: "finetune", level: "info", message: "lr drop" },
    progress(3, 4),
    progress(4, 4),
  ];
  await renderEvents(from(events), {
    tty: true,
    columns: 100,
    write: (s) => (out += s),
    now: () => (t += 1000),
  });
  match(out, /finetune: epoch 1\/2 \[#+-+\] 2\/4 {2}loss 0\.4000 {2}acc 0\.5000 {2}ETA 2s/);
  ok(out.includes("\r\x1b[2Kfinetune: lr drop\n"), JSON.stringify(out));
  match(out, /\[#{10,}\] 4\/4\n$/);
  equal(out.split("\n").length, 3, "only the log line and the finished bar end lines");
});

Deno.test("renderEvents resolves on complete and rejects on error", async () => {
  await renderEvents(new Observable<RunEvent>((s) => s.complete()), { write: () => {} });
  await rejects(
    renderEvents(throwError(() => new Error("stage failed")), { tty: true, write: () => {} }),
    /stage failed/,
  );
});
