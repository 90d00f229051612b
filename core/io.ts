/**
 * Files on the local disk: atomic writes of files and of whole directories,
 * models in the standard TensorFlow.js layers format (model.json +
 * weights.bin, loadable by any tfjs runtime), run directories and reports.
 *
 * Every file write goes to a temp file beside its target, is synced, and is
 * renamed into place, so an interrupted write leaves the old file as it was.
 * A multi-file artifact (a model, a checkpoint, an export) is written as a
 * new directory beside the old one and swapped in by renames
 * ({@link writeDirAtomic}): `kill -9` at any instant leaves either the old or
 * the new version whole. Leftovers of killed writes are hidden siblings
 * (`.<name>.<pid>-<id>.tmp` or `.old`); {@link cleanOrphans} removes them and
 * puts back a version a kill left aside. A model directory this process
 * loaded from is never written to. Write failures the user can fix (no space,
 * read-only file system, no permission) are one-line {@link OutputError}s.
 *
 * @example
 * ```ts
 * const dir = createRunDir("relu_taylor");            // runs/relu_taylor/<timestamp>/
 * await saveModel(model, `${dir}/model`);
 * const again = await loadModel(`${dir}/model`);
 * await writeReport(dir, { top1: 0.93 }, "# run\n");
 * ```
 * @module
 */
import { statfsSync } from "node:fs";
import { tf } from "./tf.ts";
import { announceAlive, isAlive } from "./liveness.ts";
import { markUserFacing, UsageError } from "./errors.ts";
import { faultPoint } from "./fault.ts";

/** A model file that is missing, malformed or in use as an input; the message is one line. */
export class ModelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelFileError";
  }
}
markUserFacing(ModelFileError);

/** A write the file system refused for a reason the user can fix (space, permissions). */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputError";
  }
}
markUserFacing(OutputError);

function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop()!;
}

/** Why a write failed, in words, for the error codes a user can do something about. */
const WRITE_FAILURES: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a path component is not a directory",
};

/** `e` as a one-line {@link OutputError} about `path` when the user can fix it, else `e`. */
function writeFailure(path: string, e: unknown): unknown {
  const why = WRITE_FAILURES[(e as { code?: string })?.code ?? ""];
  return why ? new OutputError(`cannot write ${path}: ${why}`) : e;
}

/** A hidden sibling of `path` for this process: `.<name>.<pid>-<id>.<kind>`. */
function sibling(path: string, kind: "tmp" | "old"): string {
  announceAlive(); // so cleanOrphans in other processes leaves this one's files alone
  const id = crypto.randomUUID().slice(0, 8);
  return `${dirname(path)}/.${basename(path)}.${Deno.pid}-${id}.${kind}`;
}

/** Parses a name made by {@link sibling}. */
const SIBLING = /^\.(.+)\.(\d+)-[0-9a-f]{8}\.(tmp|old)$/;

/** Flushes a file or directory to the disk (best effort: not every platform opens directories). */
async function fsync(path: string): Promise<void> {
  try {
    const f = await Deno.open(path, { read: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
  } catch {
    // a platform that cannot open a directory for syncing: the rename is still atomic
  }
}

/**
 * Writes `data` to `path` atomically: to a temp file beside it, synced, then a
 * rename. On failure the temp file is removed and `path` keeps its old content.
 *
 * @throws {OutputError} when the disk is full, read-only or not writable.
 * @example
 * ```ts
 * await writeFileAtomic("runs/x/report.json", JSON.stringify(report));
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = sibling(path, "tmp");
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    await Deno.writeFile(tmp, bytes);
    await fsync(tmp);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw writeFailure(path, e);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Removes what killed writes left in `dir`: temp files and directories
 * (incomplete, never read), and versions set aside by an interrupted
 * {@link writeDirAtomic}: one whose target is missing is renamed back (the
 * kill fell between the two renames), the others are deleted. Leftovers of
 * processes still running are left alone. `only` limits it to one target name.
 *
 * @example
 * ```ts
 * await cleanOrphans("runs/train_teacher/20250101-120000"); // before resuming from it
 * ```
 */
export async function cleanOrphans(dir: string, only?: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return; // nothing there (yet), or not ours to read
  }
  for (const e of entries) {
    const m = e.name.match(SIBLING);
    if (!m || (only !== undefined && m[1] !== only) || isAlive(Number(m[2]))) continue;
    const path = `${dir}/${e.name}`, target = `${dir}/${m[1]}`;
    try {
      if (m[3] === "old" && !(await exists(target))) await Deno.rename(path, target);
      else await Deno.remove(path, { recursive: true });
    } catch {
      // read-only input, or another cleaner got there first: leave it
    }
  }
}

/** Syncs every file under `dir`, then `dir` itself. */
async function syncTree(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) await syncTree(`${dir}/${e.name}`);
    else if (e.isFile) await fsync(`${dir}/${e.name}`);
  }
  await fsync(dir);
}

/**
 * Writes the directory `dir` as a whole: `fill` writes the files into a fresh
 * temp directory beside it, which is synced and then swapped in (the old
 * `dir`, if any, renamed aside, the new one renamed into place, the old one
 * removed). A `kill -9` at any instant leaves the old version or the new
 * one complete at `dir`, or (between the two renames) the old one aside,
 * which {@link cleanOrphans} and {@link loadModel} put back. Orphans of
 * earlier killed writes of `dir` are cleaned first. Use it for every
 * multi-file artifact (models, checkpoints, exports).
 *
 * `SHEARS_FAULT=<name>:filled|aside|swapped` pauses at these steps (core/fault.ts).
 *
 * @returns what `fill` returned.
 * @throws {OutputError} when the disk is full, read-only or not writable; `dir` is unchanged.
 * @example
 * ```ts
 * await writeDirAtomic(`${runDir}/export`, async (tmp) => {
 *   await Deno.writeTextFile(`${tmp}/model.json`, json);
 *   await Deno.writeFile(`${tmp}/weights.bin`, weights);
 * });
 * ```
 */
export async function writeDirAtomic<T>(
  dir: string,
  fill: (tmp: string) => Promise<T>,
): Promise<T> {
  const path = dir.replace(/\/+$/, ""), name = basename(path), parent = dirname(path);
  let tmp: string | undefined, old: string | undefined;
  try {
    await Deno.mkdir(parent, { recursive: true });
    await cleanOrphans(parent, name);
    tmp = sibling(path, "tmp");
    await Deno.mkdir(tmp);
    const out = await fill(tmp);
    await syncTree(tmp);
    await faultPoint(name, "filled");
    if (await exists(path)) {
      old = sibling(path, "old");
      await Deno.rename(path, old);
      await faultPoint(name, "aside");
    }
    await Deno.rename(tmp, path);
    tmp = undefined;
    await fsync(parent);
    await faultPoint(name, "swapped");
    if (old) await Deno.remove(old, { recursive: true }).catch(() => {}); // else an orphan, cleaned later
    return out;
  } catch (e) {
    if (old && !(await exists(path))) await Deno.rename(old, path).catch(() => {});
    if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw writeFailure(path, e);
  }
}

/** Real paths of model directories loaded in this process (never written to). */
const inputDirs = new Set<string>();

function realDir(dir: string): string | undefined {
  try {
    return Deno.realPathSync(dir);
  } catch {
    return undefined;
  }
}

/**
 * Encodes a model as the two files of the tfjs layers format and writes them
 * into `dir` (an existing directory, typically the temp directory of a
 * {@link writeDirAtomic}; the files are written directly, not one by one
 * atomically). Custom layers must be registered classes, as MaskedReLU is.
 *
 * @returns the bytes of each file written, by name (model.json, weights.bin).
 * @example
 * ```ts
 * await writeDirAtomic(`${runDir}/export`, (tmp) => writeModelFiles(model, tmp));
 * ```
 */
export async function writeModelFiles(
  model: tf.LayersModel,
  dir: string,
): Promise<Record<string, Uint8Array<ArrayBuffer>>> {
  const files: Record<string, Uint8Array<ArrayBuffer>> = {};
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
    const json: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology!,
      format: artifacts.format ?? "layers-model",
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs ?? [] }],
    };
    if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
    if (artifacts.userDefinedMetadata) json.userDefinedMetadata = artifacts.userDefinedMetadata;
    files["weights.bin"] = weights;
    files["model.json"] = new TextEncoder().encode(JSON.stringify(json));
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
    }
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  return files;
}

/**
 * Saves a model as `dir/model.json` + `dir/weights.bin` (the tfjs layers
 * format), the directory written as a whole and swapped in atomically
 * ({@link writeDirAtomic}): it replaces whatever `dir` held. Refuses a
 * directory this process loaded a model from (pass a fresh directory).
 *
 * @returns the bytes written (model.json + weights.bin).
 * @throws {OutputError} when the disk is full, read-only or not writable.
 * @example
 * ```ts
 * const { bytes } = await saveModel(model, `${runDir}/model`);
 * ```
 */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<{ bytes: number }> {
  const real = realDir(dir);
  if (real && inputDirs.has(real)) {
    throw new ModelFileError(`will not save into ${dir}: a model was loaded from there (an input)`);
  }
  const files = await writeDirAtomic(dir, (tmp) => writeModelFiles(model, tmp));
  return { bytes: Object.values(files).reduce((s, f) => s + f.byteLength, 0) };
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

async function readOrFail(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
    throw new ModelFileError(`cannot read ${what} ${path}: ${why}`);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** What is wrong with a model.json's `weightsManifest`, or undefined when it is well formed. */
function manifestProblem(manifest: unknown): string | undefined {
  if (!Array.isArray(manifest)) return "weightsManifest must be a list of weight groups";
  for (const [i, group] of manifest.entries()) {
    const at = `weightsManifest[${i}]`;
    if (!isRecord(group)) return `${at} must be an object with paths and weights`;
    const { paths, weights } = group;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string" && p !== "")) {
      return `${at}.paths must be a list of file names`;
    }
    if (!Array.isArray(weights)) return `${at}.weights must be a list`;
    for (const [j, w] of weights.entries()) {
      const ok = isRecord(w) && typeof w.name === "string" && typeof w.dtype === "string" &&
        w.dtype in DTYPE_BYTES && Array.isArray(w.shape) &&
        w.shape.every((d) => Number.isInteger(d) && d >= 0);
      if (!ok) {
        return `${at}.weights[${j}] needs a name, a shape of whole numbers and a dtype (${
          Object.keys(DTYPE_BYTES).join(", ")
        })`;
      }
    }
  }
  return undefined;
}

/**
 * Loads a model saved by {@link saveModel} (or any tfjs layers-format model
 * on disk): `path` is its directory or its model.json. Layer classes it uses
 * must be registered (import the plugin that defines them). The directory is
 * remembered as an input, so {@link saveModel} will not overwrite it. A
 * directory that a killed {@link writeDirAtomic} left aside is put back first.
 *
 * @throws {ModelFileError} one line naming the file, when files are missing or malformed.
 * @example
 * ```ts
 * const teacher = await loadModel("runs/train_teacher/20250101-120000/model");
 * ```
 */
export async function loadModel(path: string): Promise<tf.LayersModel> {
  const jsonPath = path.endsWith(".json") ? path : `${path.replace(/\/+$/, "")}/model.json`;
  const dir = dirname(jsonPath);
  if (!(await exists(dir))) await cleanOrphans(dirname(dir), basename(dir));
  const text = new TextDecoder().decode(await readOrFail(jsonPath, "model file"));
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(`${jsonPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(json) || !json.modelTopology || !json.weightsManifest) {
    throw new ModelFileError(
      `${jsonPath} is not a tfjs layers model (needs modelTopology and weightsManifest)`,
    );
  }
  if (json.format === "graph-model") {
    throw new ModelFileError(
      `${jsonPath} is a tfjs graph model (format "graph-model"); Shears needs a layers model ` +
        `(from Keras: tensorflowjs_converter --output_format tfjs_layers_model)`,
    );
  }
  const problem = manifestProblem(json.weightsManifest);
  if (problem) throw new ModelFileError(`${jsonPath}: ${problem}`);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const parts: Uint8Array[] = [];
    for (const group of manifest) {
      for (const p of group.paths) parts.push(await readOrFail(`${dir}/${p}`, "weights file"));
    }
    const specs = manifest.flatMap((g) => g.weights);
    const expected = specs.reduce(
      (s, w) => s + w.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[w.dtype],
      0,
    );
    const got = parts.reduce((s, p) => s + p.byteLength, 0);
    if (specs.every((w) => !w.quantization) && got !== expected) {
      throw new ModelFileError(`weights of ${jsonPath} have ${got} bytes; expected ${expected}`);
    }
    const all = new Uint8Array(got);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.byteLength;
    }
    return [specs, all.buffer];
  });
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    const line = String((e as Error).message).split("\n")[0];
    const first = line.length > 300 ? `${line.slice(0, 300)}...` : line; // tfjs quotes whole configs
    throw new ModelFileError(`cannot build the model in ${jsonPath}: ${first}`);
  }
  const real = realDir(dir);
  if (real) inputDirs.add(real);
  return model;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function isEmptyDir(dir: string): boolean {
  for (const _ of Deno.readDirSync(dir)) return false;
  return true;
}

/** Free space a run directory needs at the start; with less, the disk counts as full. */
export const MIN_FREE_BYTES = 8 * 2 ** 20;

/** The run directories this process made; those still empty at exit are removed. */
const madeRunDirs = new Set<string>();

function removeAtExitIfEmpty(dir: string): void {
  if (!madeRunDirs.size) {
    globalThis.addEventListener("unload", () => {
      for (const d of madeRunDirs) {
        try {
          Deno.removeSync(d); // fails, as it should, when the run wrote anything
        } catch {
          // not empty, or already gone
        }
      }
    });
  }
  madeRunDirs.add(dir);
}

/** An error's reason in words: the known write failures by code, else its message. */
function reason(e: unknown): string {
  return WRITE_FAILURES[(e as { code?: string })?.code ?? ""] ?? String((e as Error)?.message);
}

/**
 * Checks that files can be written in `dir` and that its file system has at
 * least {@link MIN_FREE_BYTES} free (when the platform tells).
 */
function checkWritable(dir: string, what: string): void {
  const probe = sibling(`${dir}/write-probe`, "tmp");
  try {
    Deno.writeFileSync(probe, new Uint8Array(1));
    Deno.removeSync(probe);
  } catch (e) {
    throw new UsageError(`${what} is not writable: ${reason(e)}`);
  }
  let free: number | undefined;
  try {
    const fs = statfsSync(dir);
    free = fs.bavail * fs.bsize;
  } catch {
    free = undefined; // no --allow-sys, or a platform without statfs
  }
  if (free !== undefined && free < MIN_FREE_BYTES) {
    const mib = (b: number) => `${+(b / 2 ** 20).toPrecision(3)} MiB`;
    throw new UsageError(
      `${what}: only ${mib(free)} free on its file system; a run needs at least ${
        mib(MIN_FREE_BYTES)
      }`,
    );
  }
}

/** Makes `dir` (and its parents); true when `dir` is new. */
function makeDir(dir: string, what: string): boolean {
  try {
    Deno.mkdirSync(dir);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new UsageError(`cannot create ${what}: ${reason(e)}`);
    }
  }
  makeDir(dirname(dir), what);
  return makeDir(dir, what);
}

/**
 * Creates and returns a fresh run directory: `out` when given (it may exist
 * only if empty), else `runs/<pipeline>/<YYYYMMDD-HHMMSS>` (with `-2`, `-3`,
 * ... when that name is taken). Before any work is done it checks that the
 * directory is writable and that its disk has {@link MIN_FREE_BYTES} free. A
 * directory it made that is still empty when the process exits (the run
 * failed before writing anything) is removed.
 *
 * @throws {UsageError} when `out` exists and is not an empty directory, or
 * the directory cannot be made or written, or its disk is full.
 * @example
 * ```ts
 * const dir = createRunDir("magnitude"); // "runs/magnitude/20250101-120000"
 * ```
 */
export function createRunDir(pipeline: string, out?: string): string {
  let dir: string, made: boolean;
  if (out) {
    let stat: Deno.FileInfo | undefined;
    try {
      stat = Deno.statSync(out);
    } catch {
      stat = undefined;
    }
    if (stat && !(stat.isDirectory && isEmptyDir(out))) {
      throw new UsageError(
        `--out ${out} already exists and is not an empty directory; give a new one`,
      );
    }
    dir = out;
    made = makeDir(out, `--out ${out}`);
  } else {
    const d = new Date();
    const stamp = `${d.getFullYear()}${pad2(d.getMonth() + 1)}${pad2(d.getDate())}-` +
      `${pad2(d.getHours())}${pad2(d.getMinutes())}${pad2(d.getSeconds())}`;
    const parent = `runs/${pipeline}`;
    makeDir(parent, `${parent} (give --out DIR to write elsewhere)`);
    for (let i = 1;; i++) {
      dir = `${parent}/${stamp}${i === 1 ? "" : `-${i}`}`;
      if (makeDir(dir, dir)) break;
    }
    made = true;
  }
  try {
    checkWritable(dir, out ? `--out ${out}` : dir);
  } catch (e) {
    if (made) Deno.removeSync(dir);
    throw e;
  }
  if (made) removeAtExitIfEmpty(dir);
  return dir;
}

/**
 * Writes `report.json` (pretty-printed) and `report.md` into the run
 * directory, atomically; returns their paths.
 *
 * @example
 * ```ts
 * const [json, md] = await writeReport(runDir, report, "# magnitude run\n...");
 * ```
 */
export async function writeReport(
  runDir: string,
  report: Record<string, unknown>,
  markdown: string,
): Promise<string[]> {
  const paths = [`${runDir}/report.json`, `${runDir}/report.md`];
  await writeFileAtomic(paths[0], JSON.stringify(report, null, 2) + "\n");
  await writeFileAtomic(paths[1], markdown.endsWith("\n") ? markdown : markdown + "\n");
  return paths;
}
