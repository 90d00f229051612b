/**
 * Running deno in a subprocess, as a user does, and checking how a command
 * line tool fails.
 * @module
 */
import { equal, ok } from "./assert.ts";

/** How a subprocess exited and what it printed. */
export interface Output {
  /** Exit code. */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
}

/**
 * Runs `deno <args>` (this deno binary) and collects its exit code and output.
 * `opts.env` adds to (or overrides) the inherited environment; `opts.wrapper`
 * is a command line to run deno under (e.g. `unshare --mount sh -c ...`).
 *
 * @example
 * ```ts
 * const out = await runDeno(["run", "--allow-all", "script.ts", "--flag=1"]);
 * ```
 */
export async function runDeno(
  args: string[],
  cwd?: string,
  opts: { env?: Record<string, string>; wrapper?: string[] } = {},
): Promise<Output> {
  const [cmd, ...pre] = [...(opts.wrapper ?? []), Deno.execPath()];
  const out = await new Deno.Command(cmd, {
    args: [...pre, ...args],
    cwd,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  // Deno's own note while a parallel test process holds the node_modules lock; not the tool's.
  const stderr = dec.decode(out.stderr).replace(/^.*waiting for file lock.*\n/gm, "");
  return { code: out.code, stdout: dec.decode(out.stdout), stderr };
}

/**
 * Asserts that `out` is a user error: exit code 2 and exactly one line on
 * stderr, no stack trace. Returns that line, without its newline.
 *
 * @example
 * ```ts
 * equal(oneLineError(out), "error: --width must be > 0, got 0");
 * ```
 */
export function oneLineError(out: Output): string {
  equal(out.code, 2, `exit code (stderr: ${out.stderr})`);
  ok(out.stderr.endsWith("\n"), `stderr ends with a newline: ${JSON.stringify(out.stderr)}`);
  const lines = out.stderr.slice(0, -1).split("\n");
  equal(lines.length, 1, `one line on stderr, got:\n${out.stderr}`);
  ok(!out.stderr.includes("    at "), "no stack trace");
  return lines[0];
}

const root = new URL("..", import.meta.url).pathname;

/**
 * The deno arguments of `deno task run pipelines/<script> <args>`: `run`,
 * the permissions of deno.json's `run` task, the script and its arguments.
 * Relative to the repository root (pass it as the cwd).
 *
 * @example
 * ```ts
 * const out = await runDeno(runTaskArgs("train_teacher.ts", ["--epochs=1"]), repoRoot);
 * ```
 */
export function runTaskArgs(script: string, args: string[]): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks.run;
  return ["run", ...task.split(/\s+/).slice(2), `pipelines/${script}`, ...args];
}

/** The repository root (a cwd for {@link runTaskArgs}). */
export const repoRoot: string = root;

/** What {@link interruptAt} saw: the exit code, stderr, and whether the SIGINT was sent. */
export interface Interrupted {
  code: number;
  stderr: string;
  /** False when the marker never appeared (the run ended first). */
  sent: boolean;
}

/**
 * Runs `deno <args>` from the repository root and sends it `opts.signal`
 * (default SIGINT, a Ctrl-C) as soon as its stderr matches `marker`; waits
 * for it to end. `opts.env` adds to its environment (e.g. `SHEARS_FAULT`).
 *
 * @example
 * ```ts
 * const r = await interruptAt(runTaskArgs("magnitude.ts", flags), /pruned: top-1/);
 * equal(r.code, 130);
 * ```
 */
export async function interruptAt(
  args: string[],
  marker: RegExp,
  opts: { signal?: Deno.Signal; env?: Record<string, string> } = {},
): Promise<Interrupted> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: opts.env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "", sent = false;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    stderr += r.value;
    if (!sent && marker.test(stderr)) {
      child.kill(opts.signal ?? "SIGINT");
      sent = true;
    }
  }
  const { code } = await child.status;
  return { code, stderr, sent };
}
