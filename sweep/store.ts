/**
 * A sweep's directory, shared by every executor, shard and worker:
 *
 * ```
 * <out>/sweep.json           the resolved sweep (which sweep owns the directory)
 * <out>/points/<dir>/        a completed point's run dir (pipeline files, point.json, run.log)
 * <out>/points/<dir>.failed/ the last failed attempt of a point (point.json with the error, run.log)
 * <out>/results.jsonl        one line per point: status, axes, seconds, attempts, worker, error
 * <out>/report.md, report.json, *.svg   the gathered report
 * ```
 *
 * A point's run dir appears whole (its attempt runs in a hidden directory
 * that is renamed into place on success), so a completed point is one whose
 * directory holds point.json; a sweep that is run again skips it. Every
 * file is written atomically.
 *
 * @example
 * ```ts
 * await claimDir(sweep);                 // refuses a directory of another sweep
 * const records = await writeResults(sweep);
 * ```
 * @module
 */
import { announceAlive, isAlive, UsageError, writeFileAtomic } from "@shears/core";
import type { FlagValue, Point, Sweep } from "./spec.ts";

/** What happened to a point, as results.jsonl and point.json hold it. */
export interface PointRecord {
  id: string;
  label: string;
  axes: Record<string, FlagValue>;
  status: "completed" | "failed" | "pending";
  /** Its directory, relative to the sweep's (absent while pending). */
  dir?: string;
  /** Wall time of the last attempt. */
  seconds?: number;
  /** Attempts started (a worker that died mid-point counts its attempt). */
  attempts?: number;
  /** host:pid of the process that ran the last attempt. */
  worker?: string;
  finished?: string;
  /** Why the last attempt failed: the pipeline's error line, an exit code or a timeout. */
  error?: string;
}

/** `<out>/points/<dir>`: where a completed point's run lives. */
export function pointDir(out: string, point: Point): string {
  return `${out}/points/${point.dir}`;
}

/** `<out>/points/<dir>.failed`: a failed point's last attempt. */
export function failedDir(out: string, point: Point): string {
  return `${pointDir(out, point)}.failed`;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/**
 * The record of `point` in the sweep directory `out`: completed, failed,
 * or pending when neither is there.
 *
 * @example
 * ```ts
 * (await readRecord(sweep.out, sweep.points[0])).status; // "pending"
 * ```
 */
export async function readRecord(out: string, point: Point): Promise<PointRecord> {
  return (await readJson<PointRecord>(`${pointDir(out, point)}/point.json`)) ??
    (await readJson<PointRecord>(`${failedDir(out, point)}/point.json`)) ??
    { id: point.id, label: point.label, axes: point.axes, status: "pending" };
}

/**
 * Writes `record` as point.json into `dir` (atomically).
 *
 * @example
 * ```ts
 * await writeRecord(pointDir(out, point), { ...record, status: "completed" });
 * ```
 */
export async function writeRecord(dir: string, record: PointRecord): Promise<void> {
  await writeFileAtomic(`${dir}/point.json`, JSON.stringify(record) + "\n");
}

/**
 * Rewrites `<out>/results.jsonl` from the point directories, one JSON line
 * per point in the spec's order (pending points included), atomically, and
 * returns the records.
 *
 * @example
 * ```ts
 * const failed = (await writeResults(sweep)).filter((r) => r.status === "failed");
 * ```
 */
export async function writeResults(sweep: Sweep): Promise<PointRecord[]> {
  const records = await Promise.all(sweep.points.map((p) => readRecord(sweep.out, p)));
  await writeFileAtomic(
    `${sweep.out}/results.jsonl`,
    records.map((r) => JSON.stringify(r)).join("\n") + "\n",
  );
  return records;
}

/**
 * The sweep stored in directory `dir` (its sweep.json), for `--gather`.
 *
 * @example
 * ```ts
 * const sweep = await readSweep("runs/sweeps/smoke");
 * ```
 */
export async function readSweep(dir: string): Promise<Sweep> {
  const sweep = await readJson<Sweep>(`${dir}/sweep.json`);
  if (!sweep?.points) throw new UsageError(`${dir} is not a sweep directory (no sweep.json)`);
  return { ...sweep, out: dir.replace(/\/+$/, "") || "/" };
}

function isEmptyDir(dir: string): boolean {
  for (const _ of Deno.readDirSync(dir)) return false;
  return true;
}

/**
 * Checks that `sweep.out` is free for this sweep: new, empty, or holding
 * this same sweep (same pipeline and points), which it then resumes.
 * Another sweep's directory, or one that is not a sweep's, is refused with
 * a usage error. Writes nothing.
 *
 * @example
 * ```ts
 * await checkDir(sweep); // before anything is enqueued
 * ```
 */
export async function checkDir(sweep: Sweep): Promise<void> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(sweep.out);
  } catch {
    return;
  }
  const theirs = await readJson<Sweep>(`${sweep.out}/sweep.json`);
  if (theirs && theirs.id !== sweep.id) {
    throw new UsageError(
      `--out ${sweep.out} holds another sweep (${theirs.source}: ${theirs.pipeline}, ${theirs.points.length} points); give a new --out`,
    );
  }
  if (!theirs && !(stat.isDirectory && isEmptyDir(sweep.out))) {
    throw new UsageError(
      `--out ${sweep.out} exists and is not a sweep directory; give a new or empty one`,
    );
  }
}

/**
 * Takes `sweep.out` for this sweep ({@link checkDir}, then writes
 * sweep.json). Shards starting together agree: sweep.json is created by a
 * hard link of a complete temp file, so exactly one creates it and the
 * others find it whole. A resumed sweep's report settings are updated.
 *
 * @example
 * ```ts
 * await claimDir(sweep);
 * ```
 */
export async function claimDir(sweep: Sweep): Promise<void> {
  await checkDir(sweep);
  // Nothing lands in the directory before sweep.json, so a shard starting at the same moment
  // sees it empty or claimed, never half-made: the temp file lives beside it, not in it.
  const out = sweep.out.replace(/\/+$/, "");
  const slash = out.lastIndexOf("/");
  const tmp = `${slash < 0 ? "." : out.slice(0, slash) || "/"}/.${
    out.slice(slash + 1)
  }.sweep.json.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const path = `${out}/sweep.json`;
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(tmp, JSON.stringify(sweep, null, 2) + "\n");
  try {
    await Deno.link(tmp, path);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    await checkDir(sweep); // another process created it: it must be this sweep
    await Deno.rename(tmp, path);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  await Deno.mkdir(`${out}/points`, { recursive: true });
}

/** A held sweep lock; `release()` frees it. */
export interface SweepLock {
  release(): void;
}

/**
 * Locks `out` for one producer (a local or queue sweep): a second sweep
 * started on the same directory is refused with a usage error while the
 * first runs. A lock left by a process of this host that is gone is taken
 * over.
 *
 * @example
 * ```ts
 * const lock = lockDir(sweep.out);
 * try { ... } finally { lock.release(); }
 * ```
 */
export function lockDir(out: string): SweepLock {
  const path = `${out}/sweep.lock`;
  const host = Deno.hostname();
  announceAlive();
  for (let tries = 0; tries < 3; tries++) {
    try {
      const f = Deno.openSync(path, { write: true, createNew: true });
      f.writeSync(new TextEncoder().encode(`${host} ${Deno.pid}\n`));
      f.close();
      return { release: () => Deno.removeSync(path) };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // released meanwhile
      throw e;
    }
    const [h, pid] = text.trim().split(" ");
    if (h === host && !isAlive(Number(pid))) {
      Deno.removeSync(path);
      continue;
    }
    throw new UsageError(
      `another sweep is running in ${out} (${h} pid ${pid}); wait for it, or remove ${path} if it is gone`,
    );
  }
  throw new UsageError(`cannot lock ${out}: ${path} keeps reappearing`);
}
