/**
 * `deno task sweep`: runs a sweep spec (spec.ts) with one of three
 * executors, then gathers it into one report.
 *
 * ```sh
 * deno task sweep examples/sweeps/smoke.yaml --workers 2          # local, 2 runs at a time
 * deno task sweep spec.yaml --executor queue --redis redis://host:6379   # then: deno task worker --redis ...
 * deno task sweep spec.yaml --shard 3/8 --out /shared/sweep       # one task of an array job
 * deno task sweep --gather runs/sweeps/smoke                      # report.md, report.json, plots
 * ```
 *
 * Every point is checked against its pipeline's flags before anything runs
 * or is enqueued; a bad spec, an unreachable Redis or a directory holding
 * another sweep is one line and exit 2. Points that already completed are
 * skipped. Exit 0 when every point of the run completed, 1 when some
 * failed (they are listed in report.md), 130 when interrupted.
 *
 * @example
 * ```ts
 * const code = await sweepMain(["examples/sweeps/smoke.yaml", "--dry_run"]);
 * ```
 * @module
 */
import { exitOnError, type FlagDefs, parseFlags, UsageError } from "@shears/core";
import { type Point, readSpec, type Sweep } from "./spec.ts";
import { checkDir, claimDir, lockDir, readRecord, readSweep, writeResults } from "./store.ts";
import { type Executor, indexExecutor, localExecutor } from "./executor.ts";
import { DEFAULT_QUEUE, probeRedis, queueExecutor } from "./queue.ts";
import { pointCommand } from "./command.ts";
import { Progress } from "./progress.ts";
import { gather } from "./gather.ts";
import { writeSweepReport } from "./report.ts";

/** Flags of `deno task sweep`. */
export const sweepFlags = {
  out: {
    type: "string",
    help:
      "the sweep's directory, for every executor (default: the spec's out, else runs/sweeps/<spec name>)",
  },
  executor: {
    type: "string",
    choices: ["local", "queue", "index"],
    help:
      "local: worker processes here; queue: BullMQ on --redis; index: one shard (default local, index with --shard/--shards)",
  },
  workers: {
    type: "int",
    min: 1,
    help: "points run at once on this machine (local, index; default 1)",
  },
  redis: { type: "string", help: "Redis URL of the queue executor, e.g. redis://10.0.0.5:6379" },
  queue: { type: "string", default: DEFAULT_QUEUE, help: "BullMQ queue name" },
  shard: { type: "string", help: "index executor: run shard i of N (0-based), as i/N" },
  shards: {
    type: "int",
    min: 1,
    help:
      "index executor: N shards, the index i from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID",
  },
  attempts: {
    type: "int",
    default: 2,
    min: 1,
    help:
      "attempts per point: a failed run is retried with exponential backoff (a usage error or timeout is not)",
  },
  backoff: { type: "number", default: 5, min: 0, help: "seconds before the first retry, doubling" },
  timeout: {
    type: "number",
    min: 0,
    minExclusive: true,
    help: "per-point time limit in seconds (the run is stopped and the point fails)",
  },
  gather: {
    type: "string",
    help: "gather the sweep in this directory into report.md, report.json and plots; runs nothing",
  },
  dry_run: {
    type: "boolean",
    default: false,
    help: "check the spec, list the points (this shard's) and their commands; run nothing",
  },
} satisfies FlagDefs;

const info = {
  name: "sweep <spec.yaml>",
  description:
    "Run a sweep: a pipeline over axes of flag values, each point an ordinary run, gathered into one report.",
};

type Flags = ReturnType<typeof parseFlags<typeof sweepFlags>>;

/** Shard i of N from --shard, or from the array job's environment with --shards / SLURM's count. */
function resolveShard(f: Flags): { index: number; shards: number } {
  if (f.shard !== undefined) {
    const m = f.shard.match(/^(\d+)\/(\d+)$/);
    const [i, n] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
    if (!m || n < 1 || i >= n) {
      throw new UsageError(`--shard must be i/N with 0 <= i < N, got ${f.shard}`);
    }
    if (f.shards !== undefined && f.shards !== n) {
      throw new UsageError(`--shard ${f.shard} and --shards ${f.shards} disagree; pass one`);
    }
    return { index: i, shards: n };
  }
  const env = (k: string) => Deno.env.get(k);
  const k8s = env("JOB_COMPLETION_INDEX"), slurm = env("SLURM_ARRAY_TASK_ID");
  const index = k8s !== undefined
    ? Number(k8s)
    : slurm !== undefined
    ? Number(slurm) - Number(env("SLURM_ARRAY_TASK_MIN") ?? 0)
    : undefined;
  const shards = f.shards ?? (slurm !== undefined ? Number(env("SLURM_ARRAY_TASK_COUNT")) : NaN);
  if (index === undefined) {
    throw new UsageError(
      "--executor index needs --shard i/N, or JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID set with --shards N",
    );
  }
  if (!Number.isInteger(index) || !Number.isInteger(shards) || index < 0 || index >= shards) {
    throw new UsageError(
      `shard index ${index} of ${shards} shards is out of range; pass --shards N with N > the index`,
    );
  }
  return { index, shards };
}

function executorFor(f: Flags, signal: AbortSignal): Executor {
  const name = f.executor ?? (f.shard !== undefined || f.shards !== undefined ? "index" : "local");
  if (name !== "queue" && f.redis !== undefined) {
    throw new UsageError(`--redis is for --executor queue (this is ${name})`);
  }
  if (name !== "index" && (f.shard !== undefined || f.shards !== undefined)) {
    throw new UsageError(`--shard and --shards are for --executor index (this is ${name})`);
  }
  const common = { attempts: f.attempts, backoffS: f.backoff, timeoutS: f.timeout, signal };
  if (name === "queue") {
    if (f.redis === undefined) {
      throw new UsageError("--executor queue needs --redis redis://host:port");
    }
    if (f.workers !== undefined) {
      throw new UsageError(
        "--workers is for local and index; start queue workers with deno task worker",
      );
    }
    return queueExecutor({ ...common, redis: f.redis, queue: f.queue });
  }
  if (name === "index") return indexExecutor({ ...common, ...resolveShard(f), workers: f.workers });
  return localExecutor({ ...common, workers: f.workers });
}

/**
 * Rewrites results.jsonl and, when no point is pending, the report; returns
 * the summary lines and how many of `mine` (the points this run was for) failed.
 */
async function finish(
  sweep: Sweep,
  always: boolean,
  mine: Point[] = sweep.points,
): Promise<{ lines: string[]; failed: number }> {
  const records = await writeResults(sweep);
  const n = (s: string) => records.filter((r) => r.status === s).length;
  const lines = [
    `${sweep.points.length} points: ${n("completed")} completed, ${n("failed")} failed, ${
      n("pending")
    } pending`,
    `results: ${sweep.out}/results.jsonl`,
  ];
  if (always || n("pending") === 0) {
    const [md] = await writeSweepReport(await gather(sweep));
    lines.push(`report: ${md}`);
  } else {
    lines.push(`report: once every point has run, deno task sweep --gather ${sweep.out}`);
  }
  const ids = new Set(mine.map((p) => p.id));
  return { lines, failed: records.filter((r) => ids.has(r.id) && r.status === "failed").length };
}

/**
 * Runs the sweep command on `args`; returns the exit code (0, 1 when
 * points failed, 130 when interrupted). Usage errors are thrown.
 *
 * @example
 * ```ts
 * Deno.exit(await sweepMain(Deno.args));
 * ```
 */
export async function sweepMain(args: string[]): Promise<number> {
  const [specPath, rest] = args[0] !== undefined && !args[0].startsWith("-")
    ? [args[0], args.slice(1)]
    : [undefined, args];
  const f = parseFlags(sweepFlags, rest, info);
  if (f.gather !== undefined) {
    if (specPath !== undefined) throw new UsageError("--gather DIR takes no spec file");
    const { lines } = await finish(await readSweep(f.gather), true);
    lines.forEach((l) => console.log(l));
    return 0;
  }
  if (specPath === undefined) {
    throw new UsageError("give a sweep spec (deno task sweep spec.yaml) or --gather DIR");
  }
  const sweep = await readSpec(specPath, { out: f.out });
  const ac = new AbortController();
  const executor = executorFor(f, ac.signal);
  await checkDir(sweep);
  const records = await Promise.all(sweep.points.map((p) => readRecord(sweep.out, p)));
  const mine = executor.select(sweep, sweep.points);
  const todo = executor.select(
    sweep,
    sweep.points.filter((_, i) => records[i].status !== "completed"),
  );
  if (f.dry_run) {
    const done = new Set(sweep.points.filter((_, i) => records[i].status === "completed"));
    for (const p of mine) {
      console.log(
        `${done.has(p) ? "done " : "to run"}  ${p.dir}  deno ${
          pointCommand(sweep.pipeline, `${sweep.out}/points/${p.dir}`, p.args).join(" ")
        }`,
      );
    }
    return 0;
  }
  if (executor.name === "queue") await probeRedis(f.redis!, f.queue);
  await claimDir(sweep);
  const lock = executor.name === "index" ? undefined : lockDir(sweep.out);
  let first = 0;
  const onSigint = () => {
    // under `deno task` one Ctrl-C arrives twice (the terminal's and the task runner's)
    if (ac.signal.aborted && Date.now() - first > 1000) Deno.exit(130);
    if (ac.signal.aborted) return;
    first = Date.now();
    console.error(
      executor.name === "queue"
        ? "\nstopped waiting; the points stay queued (rerun this command to collect them)"
        : "\ncancelling the running points (Ctrl-C again to quit at once)...",
    );
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    console.error(
      `${sweep.pipeline}: ${sweep.points.length} points in ${sweep.out}` +
        (executor.name === "index" ? `, ${mine.length} in this shard` : "") +
        `; ${
          mine.length - todo.length
        } already completed, ${todo.length} to run (${executor.name})`,
    );
    if (todo.length) await executor.run(sweep, todo, new Progress(todo.length));
    const always = executor.name !== "index" && !ac.signal.aborted;
    const { lines, failed } = await finish(sweep, always, mine);
    lines.forEach((l) => console.log(l));
    if (ac.signal.aborted) return 130;
    return failed > 0 ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    lock?.release();
  }
}

if (import.meta.main) {
  let code = 0;
  await exitOnError(async () => {
    code = await sweepMain(Deno.args);
  });
  Deno.exit(code);
}
