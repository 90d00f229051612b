/**
 * The command line that runs one sweep point as a user would:
 * `deno run <the run task's permissions> pipelines/<name>.ts --out <dir>
 * <flags>`, the permissions read from deno.json's `run` task.
 *
 * @example
 * ```ts
 * const cmd = pointCommand("relu_taylor", "runs/sweeps/x/points/a", ["--epochs=1"]);
 * ```
 * @module
 */
import config from "../deno.json" with { type: "json" };

/** The repository root (where deno.json and pipelines/ are), with a trailing slash. */
export const repoRoot: string = new URL("..", import.meta.url).pathname;

/** The permissions of deno.json's `run` task (what `deno task run` grants a pipeline). */
function runPermissions(): string[] {
  const [deno, run, ...rest] = config.tasks.run.split(/\s+/);
  if (deno !== "deno" || run !== "run") throw new Error(`unexpected run task: ${config.tasks.run}`);
  return rest;
}

/**
 * The arguments to the deno binary that run one point: pipeline `name`
 * writing its run into `out`, with `args` (flag arguments).
 *
 * @example
 * ```ts
 * new Deno.Command(Deno.execPath(), { args: pointCommand("magnitude", dir, ["--seed=1"]) });
 * ```
 */
export function pointCommand(name: string, out: string, args: string[]): string[] {
  return [
    "run",
    `--config=${repoRoot}deno.json`,
    ...runPermissions(),
    `${repoRoot}pipelines/${name}.ts`,
    `--out=${out}`,
    ...args,
  ];
}
