/**
 * Choosing parts from flags (core/parts.ts), typed part options
 * (core/flags.ts readOptions, --opt), the parts section of --help, and
 * plugin modules checked at import: every problem one user-facing line.
 */
import {
  checkPlugin,
  chooseParts,
  commonFlags,
  isUserFacing,
  parseFlags,
  PartChooser,
  partsHelp,
  type Plugin,
  readOptions,
  Registry,
  type Scorer,
} from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import magnitude from "@shears/magnitude";
import filterTaylor from "@shears/filter_taylor";
import { deepEqual, equal, match, ok, throws } from "./assert.ts";

const registry = new Registry([reluTaylor, magnitude, filterTaylor]);

/** Asserts `f` throws a user-facing one-line error matching `re`. */
function userError(f: () => unknown, re: RegExp): void {
  throws(f, (e: Error) => {
    ok(isUserFacing(e), `user-facing: ${e.message}`);
    ok(!e.message.includes("\n"), `one line: ${e.message}`);
    match(e.message, re);
    return true;
  });
}

Deno.test("parts by short or full name, options converted once with defaults filled", () => {
  const parts = new PartChooser(new Registry([reluTaylor, magnitude]), {
    "scorer.momentum": "0.9", // role name
    "relu_taylor/global_topk.monotone": "true", // full name
    "taylor.grad_at": "input", // short name
  });
  const scorer = parts.choose("scorer", "scorers", "taylor", {
    target: "activations",
    defaults: { depth_bias: 0.3, momentum: 0.5, unknown_flag: 1 },
  });
  const pruner = parts.choose("pruner", "pruners", "relu_taylor/global_topk", {
    target: "activations",
  });
  parts.done();
  equal(scorer.name, "relu_taylor/taylor");
  // --opt wins over a pipeline flag's value; flags set only options the part declares
  deepEqual(scorer.options, {
    momentum: 0.9,
    history: 10,
    depth_bias: 0.3,
    layer_weights: true,
    grad_at: "input",
  });
  deepEqual(pruner.options, { layer_norm: "none", monotone: true });
});

Deno.test("chooseParts: parts by role at once, none where undefined, unclaimed --opt refused", () => {
  const opt = { "pruner.round_to": "4" };
  const { scorer, pruner, reg } = chooseParts(registry, opt, {
    scorer: { kind: "scorers", name: "l1", target: "channels" },
    pruner: { kind: "pruners", name: "global_lowest", target: "channels" },
    reg: undefined,
  });
  equal(scorer.name, "filter_taylor/l1");
  equal(pruner.name, "filter_taylor/global_lowest");
  equal(pruner.options.round_to, 4);
  equal(reg, undefined);
  // a role that may be undefined (--regularizer none) is typed as the part or undefined
  const maybe = (name?: string) =>
    chooseParts(registry, {}, { reg: name ? { kind: "pruners", name } : undefined }).reg;
  equal(maybe("global")?.name, "magnitude/global");
  equal(maybe(), undefined);
  userError(
    () =>
      chooseParts(registry, { "scorer.nope": 1 }, { pruner: { kind: "pruners", name: "global" } }),
    /^--opt scorer\.nope=1: 'scorer' is not a part of this run \(its parts: pruner magnitude\/global\)$/,
  );
  userError(
    () =>
      chooseParts(registry, {}, { scorer: { kind: "scorers", name: "abs", target: "channels" } }),
    /^--scorer magnitude\/abs works on weights; this pipeline prunes channels/,
  );
});

Deno.test("unknown part, ambiguous part, wrong target: one line naming what fits", () => {
  const choose = (name: string, target = "activations" as const) =>
    new PartChooser(registry).choose("scorer", "scorers", name, { target });
  userError(() => choose("nope"), /^--scorer: unknown scorer 'nope'; known: relu_taylor\/taylor/);
  userError(() => choose("taylor", undefined as never), /scorer 'taylor' is ambiguous/);
  userError(
    () => choose("filter_taylor/taylor"),
    /--scorer filter_taylor\/taylor works on channels; this pipeline prunes activations \(scorers of that target: relu_taylor\/taylor, /,
  );
});

Deno.test("--opt: bad values, unknown keys, parts not in the run are one-line errors", () => {
  const run = (opt: Record<string, unknown>) => {
    const parts = new PartChooser(registry, opt);
    parts.choose("scorer", "scorers", "relu_taylor/taylor");
    parts.choose("pruner", "pruners", "magnitude/global");
    parts.done();
  };
  userError(
    () => run({ "scorer.momentum": "2" }),
    /^--opt relu_taylor\/taylor.momentum must be in \[0, 1\), got 2$/,
  );
  userError(() => run({ "scorer.history": "1.5" }), /history must be an integer, got 1.5/);
  userError(() => run({ "scorer.grad_at": "up" }), /grad_at must be one of output, input, got up/);
  userError(() => run({ "pruner.p_bern": "x" }), /p_bern must be a number, got x/);
  userError(
    () => run({ "scorer.nope": "1" }),
    /^--opt relu_taylor\/taylor.nope: no such option; known: momentum, history, depth_bias/,
  );
  userError(
    () => run({ "rni.b": "1" }),
    /^--opt rni.b=1: 'rni' is not a part of this run \(its parts: scorer relu_taylor\/taylor, pruner magnitude\/global\)/,
  );
  userError(() => run({ "momentum": "1" }), /^--opt momentum: say part.key=value/);
});

Deno.test("readOptions checks a direct call the same way; --help lists parts with their options", () => {
  const defs = magnitude.pruners!.global.options!;
  deepEqual(readOptions(defs, { p_prune: 0.25 }, "magnitude/global"), { p_prune: 0.25, p_bern: 1 });
  userError(
    () => readOptions(defs, { p_bern: 3 }, "magnitude/global"),
    /^magnitude\/global option p_bern must be in \[0, 1\], got 3$/,
  );
  const help = partsHelp(registry, {
    target: "activations",
    flags: { scorers: "--scorer", pruners: "--pruner" },
  });
  match(help, /target: activations/);
  match(help, /--scorer \(scorers\):\n {2}relu_taylor\/taylor: ReLUPruner Taylor importance/);
  match(
    help,
    /--opt relu_taylor\/taylor.momentum=<number>\s+EMA momentum .*\(in \[0, 1\); default 0.95\)/,
  );
  ok(!help.includes("magnitude/abs"), "weights scorers are not listed for an activations pipeline");
  const any = partsHelp(registry, { target: "any", flags: { scorers: "--scorer" } });
  match(any, /magnitude\/abs \[weights\]/);
});

Deno.test("plugins are checked when added: shape of each part, names, duplicates", () => {
  const scorer = (over: Partial<Scorer>) =>
    ({ target: "weights", description: "d", batches: 0, start: () => ({}), ...over }) as Scorer;
  const plugin = (p: Partial<Plugin>) => ({ name: "p", ...p }) as Plugin;
  userError(() => checkPlugin(plugin({ name: "" })), /a plugin needs a name of letters/);
  userError(() => checkPlugin(plugin({ name: "fp gm" })), /needs a name .*: got "fp gm"$/);
  userError(
    () => checkPlugin({ name: "p", scorer: { s: scorer({}) } } as unknown as Plugin),
    /^plugin 'p': unknown key 'scorer' \(did you mean 'scorers'\?\)$/,
  );
  userError(
    () => checkPlugin({ name: "p", extra: 1 } as unknown as Plugin),
    /unknown key 'extra'; a plugin has name, description, scorers, pruners,/,
  );
  userError(
    () => checkPlugin(plugin({ scorers: { "a b": scorer({}) } })),
    /scorer 'a b' needs a name of letters/,
  );
  userError(
    () => checkPlugin(plugin({ scorers: { s: scorer({ start: undefined }) } })),
    /^plugin 'p': scorer 's' has no start\(\) function$/,
  );
  userError(
    () => checkPlugin(plugin({ scorers: { s: scorer({ target: "neurons" as never }) } })),
    /scorer 's' has target "neurons"; it must be one of weights, channels, activations/,
  );
  userError(
    () => checkPlugin(plugin({ scorers: { s: scorer({ batches: -1 }) } })),
    /scorer 's' has batches -1/,
  );
  userError(
    () => checkPlugin(plugin({ pruners: { q: { target: "weights", description: "d" } as never } })),
    /pruner 'q' has no prune\(\) function/,
  );
  userError(
    () => checkPlugin(plugin({ regularizers: { r: { description: "d" } } })),
    /regularizer 'r' has neither a loss\(\) function nor features.loss\(\)/,
  );
  userError(
    () =>
      checkPlugin(
        plugin({ scorers: { s: scorer({ options: { k: { type: "float" } } as never }) } }),
      ),
    /scorer 's' has option 'k' without a type/,
  );
  userError(() => new Registry([magnitude, magnitude]), /plugin 'magnitude' is already registered/);
});

Deno.test("a registry's other plugins: reached by full name, never shadowing a short name", () => {
  const own = new Registry([filterTaylor], [reluTaylor, magnitude, filterTaylor]);
  equal(own.fullName("scorers", "taylor"), "filter_taylor/taylor", "the own plugin's taylor");
  equal(own.fullName("scorers", "abs"), "magnitude/abs", "a short name only another has");
  equal(own.scorer("relu_taylor/taylor"), reluTaylor.scorers!.taylor);
  equal(own.names("scorers").filter((n) => n.startsWith("filter_taylor/")).length, 2, "once");
  userError(
    () => new Registry([], [reluTaylor, filterTaylor]).fullName("scorers", "taylor"),
    /^scorer 'taylor' is ambiguous; say one of: relu_taylor\/taylor, filter_taylor\/taylor$/,
  );
  // a --plugin part of the same short name as the own one: ambiguous, as before
  const mine = { name: "mine", scorers: { taylor: filterTaylor.scorers!.taylor } } as Plugin;
  userError(() => own.add(mine).fullName("scorers", "taylor"), /'taylor' is ambiguous/);
});

Deno.test("part options from a recipe's opt: mapping, the command line winning key by key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const recipe = `${dir}/recipe.yaml`;
    await Deno.writeTextFile(
      recipe,
      "opt:\n  scorer:\n    momentum: 0.8\n    history: 4\n  relu_taylor/global_topk.monotone: true\n",
    );
    const f = parseFlags(commonFlags, ["--config", recipe, "--opt", "scorer.momentum=0.7"], {
      name: "t",
      description: "t",
    });
    const parts = new PartChooser(new Registry([reluTaylor]), f.opt);
    const scorer = parts.choose("scorer", "scorers", "taylor");
    const pruner = parts.choose("pruner", "pruners", "global_topk");
    parts.done();
    equal(scorer.options.momentum, 0.7);
    equal(scorer.options.history, 4);
    equal(pruner.options.monotone, true);
    userError(
      () => parseFlags(commonFlags, ["--opt", "scorer.momentum"], { name: "t", description: "t" }),
      /^--opt needs key=value, got scorer.momentum$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
