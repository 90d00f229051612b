/**
 * Runs one sweep point as an ordinary pipeline run in a subprocess (`deno
 * run <run task permissions> pipelines/<name>.ts --out <dir> <flags>`),
 * the way every executor and queue worker does.
 *
 * An attempt writes into a hidden directory beside the point's, with the
 * subprocess's output in a log; on success the directory (with point.json
 * and run.log) is renamed into place, so a point's run dir is either whole
 * or absent. A failed attempt is kept as `<dir>.failed` with the error line.
 * On Linux the subprocess is started under `setpriv --pdeathsig KILL`, so a
 * worker that is killed takes its run down with it instead of leaving an
 * orphan writing into the sweep.
 *
 * @example
 * ```ts
 * const outcome = await runPoint(sweep, sweep.points[0], { attempts: 2, timeoutS: 600 });
 * outcome.record.status; // "completed" or "failed"
 * ```
 * @module
 */
import { pointCommand } from "./command.ts";
import type { Point, Sweep } from "./spec.ts";
import { failedDir, pointDir, type PointRecord, readRecord, writeRecord } from "./store.ts";

/** The process name recorded as a point's worker: host:pid. */
export const workerName: string = `${Deno.hostname()}:${Deno.pid}`;

/** How one attempt runs. */
export interface AttemptOptions {
  /** The attempt's number, from 1 (recorded as the point's attempts). */
  attempt?: number;
  /** Stop the run after this many seconds (SIGTERM, then SIGKILL); the point fails, no retry. */
  timeoutS?: number;
  /** Aborting sends the run SIGINT: it cancels cleanly and the point stays pending. */
  signal?: AbortSignal;
  /** Where runs are written instead of `sweep.out` (a worker without the shared directory). */
  root?: string;
}

/** How an attempt ended. `retry`: whether trying again could help (not a usage error or timeout). */
export type AttemptOutcome =
  | { status: "completed"; record: PointRecord }
  | { status: "failed"; record: PointRecord; retry: boolean }
  | { status: "cancelled" };

const SETPRIV = "/usr/bin/setpriv";
const hasSetpriv = (() => {
  try {
    return Deno.build.os === "linux" && Deno.statSync(SETPRIV).isFile;
  } catch {
    return false;
  }
})();

/** Copies `stream` into `log`, keeping its last lines in `tail`. */
async function pump(stream: ReadableStream<Uint8Array>, log: Deno.FsFile, tail?: string[]) {
  const dec = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    await log.write(chunk);
    if (!tail) continue;
    const lines = (partial + dec.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop()!;
    tail.push(...lines);
    tail.splice(0, Math.max(0, tail.length - 40));
  }
  if (tail && partial) tail.push(partial);
}

/** The line that says why a run failed: its `error: ...` line, else its last words. */
function errorLine(tail: string[], status: Deno.CommandStatus): string {
  const text = tail.map((l) => l.trim()).filter((l) => l !== "");
  const line = text.findLast((l) => l.startsWith("error: ")) ??
    text.findLast((l) => !/^at /.test(l));
  const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
  return line ? `${how}: ${line.replace(/^error: /, "").slice(0, 300)}` : how;
}

/** Removes a completed point's failed attempt and the attempt dirs of workers that died. */
async function removeLeftovers(root: string, point: Point): Promise<void> {
  await Deno.remove(failedDir(root, point), { recursive: true }).catch(() => {});
  for await (const e of Deno.readDir(`${root}/points`)) {
    if (e.name.startsWith(`.${point.dir}.`)) {
      await Deno.remove(`${root}/points/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
}

async function moveInto(log: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.rename(log, `${dir}/run.log`);
}

/**
 * Runs one attempt of `point` (skipped when it already completed) and
 * records the outcome in the sweep directory.
 *
 * @example
 * ```ts
 * const o = await runAttempt(sweep, point, { attempt: 1 });
 * if (o.status === "failed" && o.retry) { ... }
 * ```
 */
export async function runAttempt(
  sweep: Pick<Sweep, "out" | "pipeline">,
  point: Point,
  opts: AttemptOptions = {},
): Promise<AttemptOutcome> {
  const root = opts.root ?? sweep.out;
  const done = await readRecord(root, point);
  if (done.status === "completed") return { status: "completed", record: done };
  await Deno.mkdir(`${root}/points`, { recursive: true });
  const tmp = `${root}/points/.${point.dir}.${crypto.randomUUID().slice(0, 8)}`;
  const logPath = `${tmp}.log`;
  const args = pointCommand(sweep.pipeline, tmp, point.args);
  const [cmd, ...cmdArgs] = hasSetpriv
    ? [SETPRIV, "--pdeathsig", "KILL", "--", Deno.execPath(), ...args]
    : [Deno.execPath(), ...args];
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  await log.write(new TextEncoder().encode(`$ ${[cmd, ...cmdArgs].join(" ")}\n`));
  const started = Date.now();
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const kill = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  const timers: ReturnType<typeof setTimeout>[] = [];
  if (opts.timeoutS) {
    timers.push(setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
      timers.push(setTimeout(() => kill("SIGKILL"), 10_000));
    }, opts.timeoutS * 1000));
  }
  const onAbort = () => kill("SIGINT");
  opts.signal?.addEventListener("abort", onAbort);
  const tail: string[] = [];
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, log),
    pump(child.stderr, log, tail),
  ]);
  timers.forEach(clearTimeout);
  opts.signal?.removeEventListener("abort", onAbort);
  log.close();
  const seconds = (Date.now() - started) / 1000;
  const record: PointRecord = {
    id: point.id,
    label: point.label,
    axes: point.axes,
    status: "completed",
    dir: `points/${point.dir}`,
    seconds,
    attempts: opts.attempt ?? 1,
    worker: workerName,
    finished: new Date().toISOString(),
  };
  if (status.success) {
    await moveInto(logPath, tmp);
    await writeRecord(tmp, record);
    try {
      await Deno.rename(tmp, pointDir(root, point));
    } catch (e) {
      // another worker completed it first (a retry racing a slow original): keep theirs
      if (!(e instanceof Deno.errors.AlreadyExists) && !/not empty/i.test(String(e))) throw e;
      await Deno.remove(tmp, { recursive: true });
      return { status: "completed", record: await readRecord(root, point) };
    }
    await removeLeftovers(root, point);
    return { status: "completed", record };
  }
  if (opts.signal?.aborted && !timedOut) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.remove(logPath).catch(() => {});
    return { status: "cancelled" };
  }
  const error = timedOut ? `timed out after ${opts.timeoutS} s` : errorLine(tail, status);
  const failed = { ...record, status: "failed" as const, dir: `points/${point.dir}.failed`, error };
  await moveInto(logPath, tmp);
  await writeRecord(tmp, failed);
  await Deno.remove(failedDir(root, point), { recursive: true }).catch(() => {});
  await Deno.rename(tmp, failedDir(root, point));
  return { status: "failed", record: failed, retry: !timedOut && status.code !== 2 };
}

/** Waits `ms`; false when `signal` aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", onAbort);
  });
}

/** What {@link runPoint} adds to an attempt's options. */
export interface RunOptions extends Omit<AttemptOptions, "attempt"> {
  /** Attempts in all (default 1); a usage error or a timeout is not retried. */
  attempts?: number;
  /** Seconds before the first retry, doubling after each (default 5). */
  backoffS?: number;
  /** Told before each retry. */
  onRetry?: (record: PointRecord, delayS: number) => void;
}

/**
 * Runs `point` until it completes, fails for good, or runs out of
 * attempts, waiting `backoffS * 2^(k-1)` seconds before retry k (what the
 * local and index executors do; the queue leaves retries to BullMQ).
 *
 * @example
 * ```ts
 * const o = await runPoint(sweep, point, { attempts: 3, onRetry: (r, s) => console.log(r.error, s) });
 * ```
 */
export async function runPoint(
  sweep: Pick<Sweep, "out" | "pipeline">,
  point: Point,
  opts: RunOptions = {},
): Promise<AttemptOutcome> {
  const attempts = opts.attempts ?? 1;
  for (let attempt = 1;; attempt++) {
    const o = await runAttempt(sweep, point, { ...opts, attempt });
    if (o.status !== "failed" || !o.retry || attempt >= attempts) return o;
    const delay = (opts.backoffS ?? 5) * 2 ** (attempt - 1);
    opts.onRetry?.(o.record, delay);
    if (!await sleep(delay * 1000, opts.signal)) return { status: "cancelled" };
  }
}
