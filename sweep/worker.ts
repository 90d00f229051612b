/**
 * `deno task worker`: a queue worker. Takes sweep points from the BullMQ
 * queue on `--redis` and runs each as an ordinary pipeline subprocess,
 * `--concurrency` at a time, until stopped. Start as many as you like, on
 * any machine with a checkout of this repository (and the data the points
 * read). Runs are written into the sweep directory each job names (share
 * it, e.g. over NFS) or under `--out`; the producer gets every point's
 * record and report.json through Redis either way.
 *
 * Ctrl-C or SIGTERM: finish the running points, take no more. Twice: stop
 * them (each goes back to the queue as a failed attempt). A worker that is
 * killed outright loses its lock; after `--stall` seconds another worker
 * puts its points back in the queue.
 *
 * @example
 * ```sh
 * deno task worker --redis redis://10.0.0.5:6379 --concurrency 2
 * ```
 * @module
 */
import { exitOnError, type FlagDefs, parseFlags } from "@shears/core";
import { DEFAULT_QUEUE, probeRedis, startWorker } from "./queue.ts";
import { workerName } from "./run_point.ts";

/** Flags of `deno task worker`. */
export const workerFlags = {
  redis: {
    type: "string",
    default: "redis://127.0.0.1:6379",
    help: "Redis URL of the sweep's queue",
  },
  queue: { type: "string", default: DEFAULT_QUEUE, help: "BullMQ queue name" },
  concurrency: { type: "int", default: 1, min: 1, help: "points run at once by this worker" },
  out: {
    type: "string",
    help: "write runs under this directory instead of the sweep directory each job names",
  },
  stall: {
    type: "number",
    default: 30,
    min: 1,
    help: "seconds without a sign of life before a worker's point goes back to the queue",
  },
} satisfies FlagDefs;

/**
 * Runs a worker on `args` until it is stopped by SIGINT or SIGTERM.
 *
 * @example
 * ```ts
 * await workerMain(["--redis", "redis://127.0.0.1:6379"]);
 * ```
 */
export async function workerMain(args: string[]): Promise<void> {
  const f = parseFlags(workerFlags, args, {
    name: "worker",
    description: "Take sweep points from a BullMQ queue on Redis and run them.",
  });
  await probeRedis(f.redis, f.queue);
  const ac = new AbortController();
  const worker = startWorker({
    redis: f.redis,
    queue: f.queue,
    concurrency: f.concurrency,
    out: f.out,
    stallS: f.stall,
    signal: ac.signal,
  });
  worker.on(
    "active",
    (job) =>
      console.error(
        `started ${job.data.point.label || job.data.point.dir} (attempt ${job.attemptsStarted})`,
      ),
  );
  worker.on(
    "completed",
    (_job, r) =>
      console.error(`done ${r.record.label || r.record.id} in ${r.record.seconds?.toFixed(1)} s`),
  );
  worker.on(
    "failed",
    (job, e) => console.error(`failed ${job?.data.point.label ?? "?"}: ${e.message}`),
  );
  worker.on("error", (e) => console.error(`worker: ${e.message.split("\n")[0]}`));
  console.error(
    `worker ${workerName}: taking points from queue '${f.queue}' at ${f.redis} (concurrency ${f.concurrency})`,
  );
  const closed = new Promise<void>((resolve) => {
    let first = 0;
    const stop = () => {
      if (ac.signal.aborted) return;
      // under `deno task` one Ctrl-C arrives twice (the terminal's and the task runner's)
      if (worker.closing && Date.now() - first > 1000) {
        console.error("stopping the running points; they go back to the queue");
        ac.abort();
        return;
      }
      if (worker.closing) return;
      first = Date.now();
      console.error("finishing the running points, then stopping (again: stop them now)");
      worker.close().then(resolve);
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await closed;
}

if (import.meta.main) {
  await exitOnError(() => workerMain(Deno.args));
  Deno.exit(0);
}
