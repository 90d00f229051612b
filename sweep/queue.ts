/**
 * The queue executor and its workers, on BullMQ and Redis.
 *
 * The producer (`deno task sweep spec.yaml --executor queue --redis URL`)
 * enqueues one job per point still to run (job id: the point's id and its
 * sweep directory's, so a rerun finds its jobs again), prints progress from
 * the queue's events, and records each point as it finishes. Workers
 * (`deno task worker --redis URL`, on any machine with a checkout) run each
 * job as an ordinary pipeline subprocess into the sweep directory the job
 * names (or their own `--out`), and return the point's record and
 * report.json, which the producer writes into its own sweep directory when
 * the worker's files are elsewhere.
 *
 * Failures: a run that fails is retried with exponential backoff up to the
 * producer's `--attempts` (a usage error or a timeout is final); a worker
 * that dies stops renewing its job's lock, and after `stall_s` another
 * worker's stalled-job check puts the job back in the queue (BullMQ's own
 * mechanism; a job may stall twice before it fails).
 *
 * @example
 * ```ts
 * await probeRedis("redis://127.0.0.1:6379");
 * await queueExecutor({ redis: "redis://127.0.0.1:6379" }).run(sweep, todo, progress);
 * const worker = startWorker({ redis: "redis://127.0.0.1:6379", concurrency: 2 });
 * ```
 * @module
 */
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from "bullmq";
import { UsageError, writeFileAtomic } from "@shears/core";
import type { Executor, ExecutorOptions } from "./executor.ts";
import { runAttempt, workerName } from "./run_point.ts";
import { type Point, sha256, type Sweep } from "./spec.ts";
import { pointDir, type PointRecord, readRecord, writeRecord } from "./store.ts";
import type { Progress } from "./progress.ts";

/** The default queue name. */
export const DEFAULT_QUEUE = "shears";

/** What a job carries: everything a worker needs, no spec file. */
export interface PointJob {
  out: string;
  pipeline: string;
  point: Point;
  timeout_s?: number;
}

/** What a worker returns for a completed point. */
export interface PointResult {
  record: PointRecord;
  /** The run's report.json. */
  report: unknown;
}

/** Progress a worker posts on its job. */
type JobNote =
  | { event: "started"; worker: string; attempt: number }
  | { event: "failed"; worker: string; error: string; retry: boolean };

/** Throws a usage error unless `url` is a redis:// or rediss:// URL. */
function checkUrl(url: string): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || !/^rediss?:$/.test(u.protocol) || !u.hostname) {
    throw new UsageError(`--redis must be a URL like redis://host:6379, got ${url}`);
  }
}

/**
 * Checks, within a few seconds, that Redis answers at `url`; a usage error
 * ("cannot reach Redis at ...") when it does not, before anything is
 * enqueued.
 *
 * @example
 * ```ts
 * await probeRedis("redis://127.0.0.1:6379");
 * ```
 */
export async function probeRedis(url: string, queue = DEFAULT_QUEUE): Promise<void> {
  checkUrl(url);
  const q = new Queue(queue, {
    connection: {
      url,
      retryStrategy: () => null,
      connectTimeout: 5000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    },
  });
  q.on("error", () => {}); // reported below
  try {
    await q.waitUntilReady();
  } catch (e) {
    throw new UsageError(`cannot reach Redis at ${url}: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await q.close().catch(() => {});
  }
}

/** Records a point the producer learned about from the queue, unless its files already say so. */
async function record(sweep: Sweep, point: Point, r: PointRecord, report?: unknown) {
  const have = await readRecord(sweep.out, point);
  // the worker wrote here (a shared directory), or the point completed some other way
  if (have.status === "completed" || (have.status === "failed" && r.status === "failed")) {
    return have;
  }
  if (r.status === "completed") {
    const dir = pointDir(sweep.out, point);
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(`${dir}/report.json`, JSON.stringify(report, null, 2) + "\n");
    await writeRecord(dir, r);
  } else {
    const dir = `${sweep.out}/${r.dir ?? `points/${point.dir}.failed`}`;
    await Deno.mkdir(dir, { recursive: true });
    await writeRecord(dir, r);
  }
  return r;
}

/**
 * The queue executor (producer side): enqueues `points`, shows progress,
 * records each point when its job finishes. Aborting `signal` stops
 * waiting; the jobs stay queued and a rerun collects them.
 *
 * @example
 * ```ts
 * await queueExecutor({ redis: url, attempts: 3, timeoutS: 3600 }).run(sweep, todo, progress);
 * ```
 */
export function queueExecutor(
  opts: ExecutorOptions & { redis: string; queue?: string },
): Executor {
  const name = opts.queue ?? DEFAULT_QUEUE;
  return {
    name: "queue",
    select: (_sweep, todo) => todo,
    async run(sweep, points, progress) {
      const connection = { url: opts.redis };
      const queue = new Queue<PointJob, PointResult>(name, { connection });
      const events = new QueueEvents(name, { connection });
      try {
        await events.waitUntilReady();
        const dirKey = (await sha256(await Deno.realPath(sweep.out))).slice(0, 8);
        const byJob = new Map(points.map((p) => [`${p.id}-${dirKey}`, p]));
        listen(events, byJob, progress);
        const jobs = [];
        for (const [jobId, point] of byJob) jobs.push(await enqueue(queue, jobId, sweep, point));
        const stop = new Promise<void>((resolve) => {
          if (opts.signal?.aborted) resolve();
          opts.signal?.addEventListener("abort", () => resolve());
        });
        await Promise.race([
          stop,
          Promise.all(jobs.map(async (job) => {
            const point = byJob.get(job.id!)!;
            progress.finished(await finish(sweep, point, job, queue, events));
          })),
        ]);
      } finally {
        await events.close();
        await queue.close();
      }
    },
  };

  async function enqueue(queue: Queue<PointJob, PointResult>, jobId: string, s: Sweep, p: Point) {
    const old = await Job.fromId<PointJob, PointResult>(queue, jobId);
    const state = await old?.getState();
    if (old && state !== "failed" && state !== "unknown") return old; // queued, running or done
    await old?.remove();
    return queue.add(s.pipeline, {
      out: s.out,
      pipeline: s.pipeline,
      point: p,
      ...(opts.timeoutS ? { timeout_s: opts.timeoutS } : {}),
    }, {
      jobId,
      attempts: opts.attempts ?? 1,
      backoff: { type: "exponential", delay: (opts.backoffS ?? 5) * 1000 },
      removeOnComplete: { age: 7 * 86400 },
      removeOnFail: { age: 7 * 86400 },
    });
  }
}

function listen(events: QueueEvents, byJob: Map<string, Point>, progress: Progress) {
  events.on("progress", ({ jobId, data }) => {
    const p = byJob.get(jobId), note = data as JobNote;
    if (!p || typeof note !== "object") return;
    if (note.event === "started") progress.started(p, note.worker, note.attempt);
    else if (note.event === "failed" && note.retry) progress.retry(p.label, note.error);
  });
  events.on("stalled", ({ jobId }) => {
    const p = byJob.get(jobId);
    if (p) progress.stalled(p.label);
  });
}

/** Waits for `job` to finish and records its point. */
async function finish(
  sweep: Sweep,
  point: Point,
  job: Job<PointJob, PointResult>,
  queue: Queue<PointJob, PointResult>,
  events: QueueEvents,
): Promise<PointRecord> {
  try {
    const result = await job.waitUntilFinished(events);
    return await record(sweep, point, result.record, result.report);
  } catch (e) {
    const j = await Job.fromId<PointJob, PointResult>(queue, job.id!);
    const note = j?.progress as JobNote | undefined;
    return await record(sweep, point, {
      id: point.id,
      label: point.label,
      axes: point.axes,
      status: "failed",
      dir: `points/${point.dir}.failed`,
      attempts: j?.attemptsStarted,
      worker: note?.worker,
      finished: new Date().toISOString(),
      error: j?.failedReason ?? (e as Error).message,
    });
  }
}

/** Options of a queue worker. */
export interface WorkerOptions {
  redis: string;
  queue?: string;
  /** Points run at once by this worker (default 1). */
  concurrency?: number;
  /** Write runs under this directory instead of the sweep directory each job names. */
  out?: string;
  /** Seconds without a lock renewal before a job counts as stalled (default 30). */
  stallS?: number;
  /** Aborting cancels the running points (they go back to the queue as failed attempts). */
  signal?: AbortSignal;
}

/**
 * Starts a worker that takes points from the queue until closed; each
 * point runs as a pipeline subprocess.
 *
 * @example
 * ```ts
 * const w = startWorker({ redis: "redis://10.0.0.5:6379", concurrency: 2 });
 * Deno.addSignalListener("SIGTERM", () => w.close());
 * ```
 */
export function startWorker(opts: WorkerOptions): Worker<PointJob, PointResult> {
  const stallMs = (opts.stallS ?? 30) * 1000;
  return new Worker<PointJob, PointResult>(
    opts.queue ?? DEFAULT_QUEUE,
    async (job) => {
      const { out, pipeline, point, timeout_s } = job.data;
      const root = opts.out ?? out;
      const attempt = job.attemptsStarted;
      await job.updateProgress({ event: "started", worker: workerName, attempt });
      const o = await runAttempt({ out, pipeline }, point, {
        attempt,
        timeoutS: timeout_s,
        root,
        signal: opts.signal,
      });
      if (o.status === "completed") {
        const report = JSON.parse(await Deno.readTextFile(`${pointDir(root, point)}/report.json`));
        return { record: o.record, report };
      }
      if (o.status === "cancelled") throw new Error(`cancelled: worker ${workerName} was stopped`);
      const error = o.record.error ?? "failed";
      await job.updateProgress({ event: "failed", worker: workerName, error, retry: o.retry });
      throw o.retry ? new Error(error) : new UnrecoverableError(error);
    },
    {
      connection: { url: opts.redis },
      concurrency: opts.concurrency ?? 1,
      lockDuration: stallMs,
      stalledInterval: stallMs,
      maxStalledCount: 2,
    },
  );
}
