/**
 * Shears sweeps: a pipeline over axes of flag values (scorer x budget x
 * seed), each point an ordinary run in its own run directory, executed
 * locally (`local`), by BullMQ workers on a shared Redis (`queue`), or as
 * index-sharded tasks of a Kubernetes Indexed Job or SLURM array (`index`),
 * and gathered into one report (tables of mean ± sd over seeds, SVG plots).
 *
 * The commands are `deno task sweep` (main.ts) and `deno task worker`
 * (worker.ts); this module is their parts, for programs.
 *
 * @example
 * ```ts
 * import { gather, localExecutor, Progress, readSpec, writeSweepReport } from "@shears/sweep";
 *
 * const sweep = await readSpec("examples/sweeps/smoke.yaml");
 * await localExecutor({ workers: 2 }).run(sweep, sweep.points, new Progress(sweep.points.length));
 * await writeSweepReport(await gather(sweep));
 * ```
 * @module
 */
export * from "./spec.ts";
export * from "./metrics.ts";
export * from "./store.ts";
export * from "./run_point.ts";
export * from "./executor.ts";
export * from "./queue.ts";
export * from "./progress.ts";
export * from "./gather.ts";
export * from "./report.ts";
export { sweepFlags, sweepMain } from "./main.ts";
export { workerFlags, workerMain } from "./worker.ts";
