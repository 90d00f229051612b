/**
 * bench/backends.ts command line (subprocesses; nothing is timed): `--help`
 * lists every flag and exits 0, and each bad flag prints one line and exits 2
 * before any benchmark starts.
 */
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
      "error: --backends must be one of tensorflow, webgpu, wasm, cpu, got auto",
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
