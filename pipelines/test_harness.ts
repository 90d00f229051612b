/**
 * What the pipelines' end-to-end tests share: the backend they run on, a
 * temporary run directory, reading a run's report.json, and running a
 * pipeline in this process or as a user does (a subprocess with the `run`
 * task's permissions).
 * Not a test file itself (no `_test` suffix), so `deno test` only imports it.
 * @module
 */
import { type FlagDefs, type PipelineSpec, runPipeline, type tf } from "@shears/core";
import { type Output, runDeno } from "../tests/subprocess.ts";

const root = new URL("..", import.meta.url).pathname;
/** The permissions of deno.json's `run` task. */
const runFlags = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net=localhost",
  "--allow-run",
  "--allow-sys",
  "--allow-ffi",
  "--unstable-webgpu",
];

/**
 * The backend a pipeline test passes as `--backend`: `SHEARS_TEST_BACKEND`,
 * else `fallback` (a named backend, never auto).
 *
 * @example
 * ```ts
 * const backend = testBackend("wasm"); // the cpu backend is slow for convs
 * ```
 */
export function testBackend(fallback: string): string {
  return Deno.env.get("SHEARS_TEST_BACKEND") ?? fallback;
}

/**
 * Runs `fn` with a fresh temporary directory and removes it afterwards,
 * whether `fn` succeeds or throws.
 *
 * @example
 * ```ts
 * await withTempDir(async (dir) => await runPipeline(spec, ["--out", dir]));
 * ```
 */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "shears_pipeline_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The parsed report.json of the run written to `dir` (the pipeline's `--out`).
 *
 * @example
 * ```ts
 * const report = await readReport<{ relus_after: number }>(`${dir}/run`);
 * ```
 */
export async function readReport<T>(dir: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(`${dir}/report.json`)) as T;
}

/**
 * Runs `spec` in this process on `args` with `--out <out>`, and returns the
 * parsed report.json and the run's final model (the caller disposes it).
 *
 * @example
 * ```ts
 * const { report, model } = await runInProcess<Report>(rniPipeline, ["--epochs=1"], dir);
 * model.dispose();
 * ```
 */
export async function runInProcess<R, D extends FlagDefs = FlagDefs>(
  spec: PipelineSpec<D>,
  args: string[],
  out: string,
): Promise<{ report: R; model: tf.LayersModel }> {
  const ctx = await runPipeline(spec, [...args, "--out", out]);
  return { report: await readReport<R>(out), model: ctx.model! };
}

/**
 * Runs `deno run <run task permissions> pipelines/<script> <args>` from the
 * repository root, as `deno task run` does, and collects its exit code and output.
 *
 * @example
 * ```ts
 * const out = await runCli("summary.ts", ["--model", "lenet5"]);
 * ```
 */
export function runCli(script: string, args: string[]): Promise<Output> {
  return runDeno(["run", ...runFlags, `pipelines/${script}`, ...args], root);
}
