/**
 * Executors run a sweep's points; all three share one interface and write
 * the same sweep directory (store.ts):
 *
 * - `local`: up to `workers` pipeline subprocesses at once on this machine;
 * - `index`: shard i of N (Kubernetes Indexed Jobs, SLURM arrays): the
 *   points at positions i, i+N, i+2N, ... of the spec, run like `local`,
 *   into a shared output directory;
 * - `queue`: BullMQ on Redis (queue.ts): points are enqueued and any
 *   number of `deno task worker` processes, on any machines, take them.
 *
 * A point that fails is retried (`attempts`, with exponential backoff)
 * unless the pipeline refused its flags or it timed out; a point that still
 * fails is recorded with its error and the others go on.
 *
 * @example
 * ```ts
 * const exec = localExecutor({ workers: 2, attempts: 2 });
 * await exec.run(sweep, todo, new Progress(todo.length));
 * ```
 * @module
 */
import type { Point, Sweep } from "./spec.ts";
import type { Progress } from "./progress.ts";
import { runPoint, workerName } from "./run_point.ts";

/** Runs points of a sweep. */
export interface Executor {
  /** "local", "index" or "queue". */
  readonly name: string;
  /** The points of `todo` this executor runs (index: its shard's). */
  select(sweep: Sweep, todo: Point[]): Point[];
  /** Runs `points`, recording each in the sweep directory; resolves when all are done or stopped. */
  run(sweep: Sweep, points: Point[], progress: Progress): Promise<void>;
}

/** Options every executor takes. */
export interface ExecutorOptions {
  /** Attempts per point (default 1). */
  attempts?: number;
  /** Seconds before the first retry, doubling after each (default 5). */
  backoffS?: number;
  /** Per-point time limit in seconds. */
  timeoutS?: number;
  /** Aborting stops starting points and cancels the running ones (they stay pending). */
  signal?: AbortSignal;
}

/**
 * The local executor: `workers` points at a time, each a pipeline
 * subprocess.
 *
 * @example
 * ```ts
 * await localExecutor({ workers: 2 }).run(sweep, sweep.points, new Progress(sweep.points.length));
 * ```
 */
export function localExecutor(opts: ExecutorOptions & { workers?: number } = {}): Executor {
  return {
    name: "local",
    select: (_sweep, todo) => todo,
    async run(sweep, points, progress) {
      const queue = [...points];
      const lane = async () => {
        for (let p = queue.shift(); p && !opts.signal?.aborted; p = queue.shift()) {
          progress.started(p, workerName);
          const o = await runPoint(sweep, p, {
            ...opts,
            onRetry: (r, delay) => progress.retry(r.label, r.error, delay),
          });
          if (o.status !== "cancelled") progress.finished(o.record);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, opts.workers ?? 1) }, lane));
    },
  };
}

/**
 * Which shard runs the point at `position` among a sweep's points: the
 * points are dealt round-robin, so every shard gets a share of each axis.
 *
 * @example
 * ```ts
 * shardOf(5, 2); // 1
 * ```
 */
export function shardOf(position: number, shards: number): number {
  return position % shards;
}

/**
 * The index executor: shard `index` of `shards` of the sweep, run as the
 * local executor runs (with `workers` at a time).
 *
 * @example
 * ```ts
 * const exec = indexExecutor({ index: 0, shards: 2 });
 * exec.select(sweep, sweep.points).length; // half of them
 * ```
 */
export function indexExecutor(
  opts: ExecutorOptions & { index: number; shards: number; workers?: number },
): Executor {
  const local = localExecutor(opts);
  return {
    name: "index",
    select(sweep, todo) {
      const position = new Map(sweep.points.map((p, i) => [p.id, i]));
      return todo.filter((p) => shardOf(position.get(p.id)!, opts.shards) === opts.index);
    },
    run: (sweep, points, progress) => local.run(sweep, points, progress),
  };
}
