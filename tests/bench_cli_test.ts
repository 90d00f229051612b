/**
 * bench/backends.ts command line (subprocesses; nothing is timed): `--help`
 * lists every flag and exits 0, and each bad flag prints one line and exits 2
 * before any benchmark starts. bench/speedup.ts: bad input is one line, and a
 * run over two saved models prints their latencies and MAC shares.
 */
import { initBackend, saveModel, tf } from "@shears/core";
import { equal, match } from "./assert.ts";
import { oneLineError, runDeno } from "./subprocess.ts";

const root = new URL("..", import.meta.url).pathname;

/** Runs `deno task bench <args>` as a user does (`-q`: without deno's "Task ..." line). */
function bench(args: string[]) {
  return runDeno(["task", "-q", "bench", ...args], root);
}

Deno.test("bench --help lists every flag and exits 0", async () => {
  const help = await bench(["--help"]);
  equal(help.code, 0, help.stderr);
  const flags = ["backends", "nets", "steps", "warmup", "machine", "date", "torch", "write"];
  for (const f of [...flags, "torch_device", "out", "json"]) {
    match(help.stdout, new RegExp(`--${f}\\b`));
  }
  match(help.stdout, /--torch_device <string>.*one of cpu, cuda/);
  match(help.stdout, /--no-torch skips it/);
});

Deno.test("bench: a bad flag is one line on stderr and exit 2, before any timing", async () => {
  const cases: [string[], string][] = [
    [["--bogus"], "error: unknown flag --bogus (--help lists the flags)"],
    [["--steps", "0"], "error: --steps must be >= 1, got 0"],
    [["--torch_device", "tpu"], "error: --torch_device must be one of cpu, cuda, got tpu"],
    [
      ["--backends", "auto"],
      "error: --backends must be one of tensorflow, webgpu, wasm, cpu, webgpu-dawn, webgpu-deno, got auto",
    ],
    [["--date", "23/11/2026"], "error: --date must be YYYY-MM-DD, got 23/11/2026"],
    [
      ["--out", "/no/such/dir/BENCH.md"],
      "error: --out /no/such/dir/BENCH.md: no directory /no/such/dir",
    ],
  ];
  for (const [args, line] of cases) {
    const r = await bench(args);
    equal(oneLineError(r), line, args.join(" "));
    equal(r.stdout, "");
  }
});

/** Runs `deno task speedup <args>`. */
function speedup(args: string[]) {
  return runDeno(["task", "-q", "speedup", ...args], root);
}

Deno.test("speedup: bad input is one line on stderr and exit 2", async () => {
  const cases: [string[], string][] = [
    [["--models", "a"], "error: --models needs at least two saved model dirs, the base first"],
    [["--rounds", "0"], "error: --rounds must be >= 1, got 0"],
  ];
  for (const [args, line] of cases) {
    const r = await speedup(args);
    equal(oneLineError(r), line, args.join(" "));
    equal(r.stdout, "");
  }
  const missing = await speedup(["--models", "/no/such/a,/no/such/b", "--backend", "cpu"]);
  // after the backend's own line: the model's, one line, no stack trace
  equal(missing.code, 2, missing.stderr);
  match(missing.stderr, /\nerror: cannot read model file \/no\/such\/a\/model\.json: not found\n$/);
  equal(missing.stderr.includes("    at "), false);
});

Deno.test("speedup times saved models side by side and reports the MAC share", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await initBackend("cpu");
    const stack = (units: number) => {
      const x = tf.input({ shape: [units] });
      const h = tf.layers.dense({ units }).apply(tf.layers.dense({ units }).apply(x));
      return tf.model({ inputs: x, outputs: h as tf.SymbolicTensor });
    };
    for (const [name, units] of [["big", 128], ["small", 16]] as const) {
      const m = stack(units);
      await saveModel(m, `${dir}/${name}`);
      m.dispose();
    }
    const r = await speedup([
      "--models",
      `${dir}/big,${dir}/small`,
      "--backend",
      "cpu",
      "--rounds",
      "1",
      "--runs",
      "2",
      "--batch",
      "4",
    ]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /big: [\d.]+ ms, 32768 MACs \(base\)/);
    match(
      r.stdout,
      /small: [\d.]+ ms, 512 MACs, x[\d.]+ faster = [\d.]+ of the MAC reduction \(x64\.00\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
