/**
 * Files on the local disk: atomic writes, models in the standard TensorFlow.js
 * layers format (model.json + weights.bin, loadable by any tfjs runtime), run
 * directories and reports.
 *
 * Every write goes to a temp file in the target's directory and is renamed
 * into place, so an interrupted write leaves the old file as it was. A model
 * directory this process loaded from is never written to.
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
import { tf } from "./tf.ts";
import { markUserFacing, UsageError } from "./errors.ts";

/** A model file that is missing, malformed or in use as an input; the message is one line. */
export class ModelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelFileError";
  }
}
markUserFacing(ModelFileError);

function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop()!;
}

/**
 * Writes `data` to `path` atomically: to a temp file beside it, then a rename.
 * On failure the temp file is removed and `path` keeps its old content.
 *
 * @example
 * ```ts
 * await writeFileAtomic("runs/x/report.json", JSON.stringify(report));
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${dirname(path)}/.${basename(path)}.${Deno.pid}.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
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
 * Saves a model as `dir/model.json` + `dir/weights.bin` (the tfjs layers
 * format; custom layers must be registered classes, as MaskedReLU is).
 * Each file is written atomically, weights first. Refuses a directory this
 * process loaded a model from (pass a fresh directory).
 *
 * @returns the bytes written (model.json + weights.bin).
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
  await Deno.mkdir(dir, { recursive: true });
  let bytes = 0;
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
    const text = new TextEncoder().encode(JSON.stringify(json));
    await writeFileAtomic(`${dir}/weights.bin`, weights);
    await writeFileAtomic(`${dir}/model.json`, text);
    bytes = weights.byteLength + text.byteLength;
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
  return { bytes };
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

/**
 * Loads a model saved by {@link saveModel} (or any tfjs layers-format model
 * on disk): `path` is its directory or its model.json. Layer classes it uses
 * must be registered (import the plugin that defines them). The directory is
 * remembered as an input, so {@link saveModel} will not overwrite it.
 *
 * @throws {ModelFileError} one line, when files are missing or malformed.
 * @example
 * ```ts
 * const teacher = await loadModel("runs/train_teacher/20250101-120000/model");
 * ```
 */
export async function loadModel(path: string): Promise<tf.LayersModel> {
  const jsonPath = path.endsWith(".json") ? path : `${path.replace(/\/+$/, "")}/model.json`;
  const dir = dirname(jsonPath);
  const text = new TextDecoder().decode(await readOrFail(jsonPath, "model file"));
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(`${jsonPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== "object" || !json.modelTopology || !json.weightsManifest) {
    throw new ModelFileError(
      `${jsonPath} is not a tfjs layers model (needs modelTopology and weightsManifest)`,
    );
  }
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const parts: Uint8Array[] = [];
    for (const group of manifest) {
      for (const p of group.paths) parts.push(await readOrFail(`${dir}/${p}`, "weights file"));
    }
    const specs = manifest.flatMap((g) => g.weights);
    const expected = specs.reduce(
      (s, w) => s + w.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.dtype] ?? NaN),
      0,
    );
    const got = parts.reduce((s, p) => s + p.byteLength, 0);
    if (!Number.isNaN(expected) && specs.every((w) => !w.quantization) && got !== expected) {
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
    const first = String((e as Error).message).split("\n")[0];
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

/**
 * Creates and returns a fresh run directory: `out` when given (it may exist
 * only if empty), else `runs/<pipeline>/<YYYYMMDD-HHMMSS>` (with `-2`, `-3`,
 * ... when that name is taken).
 *
 * @throws {UsageError} when `out` exists and is not an empty directory.
 * @example
 * ```ts
 * const dir = createRunDir("magnitude"); // "runs/magnitude/20250101-120000"
 * ```
 */
export function createRunDir(pipeline: string, out?: string): string {
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
    Deno.mkdirSync(out, { recursive: true });
    return out;
  }
  const d = new Date();
  const stamp = `${d.getFullYear()}${pad2(d.getMonth() + 1)}${pad2(d.getDate())}-` +
    `${pad2(d.getHours())}${pad2(d.getMinutes())}${pad2(d.getSeconds())}`;
  const parent = `runs/${pipeline}`;
  Deno.mkdirSync(parent, { recursive: true });
  for (let i = 1;; i++) {
    const dir = `${parent}/${stamp}${i === 1 ? "" : `-${i}`}`;
    try {
      Deno.mkdirSync(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
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
