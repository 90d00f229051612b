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
 * Runs `deno <args>` (this deno binary) and collects its exit code and output;
 * `env` adds environment variables.
 *
 * @example
 * ```ts
 * const out = await runDeno(["run", "--allow-all", "script.ts", "--flag=1"]);
 * ```
 */
export async function runDeno(
  args: string[],
  cwd?: string,
  env?: Record<string, string>,
): Promise<Output> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
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
