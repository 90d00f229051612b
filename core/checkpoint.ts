/**
 * Training checkpoints: `<run>/checkpoint/` holds model.json, weights.bin and
 * state.json (the stage, the epochs finished, and the SHA-256 of the two model
 * files). The directory is written as a whole and swapped in atomically
 * (io.ts `writeDirAtomic`), so `kill -9` at any instant leaves a checkpoint
 * whose three files belong together; the reader checks that they do, and
 * puts back a checkpoint a kill left aside. Non-finite weights are never
 * checkpointed: the last finite checkpoint stays.
 *
 * @example
 * ```ts
 * await saveCheckpoint(ctx.model!, ctx.runDir!, { stage: "finetune", epoch: 3 });
 * const { model, state } = await loadCheckpoint("runs/train_teacher/20250101-120000");
 * ```
 * @module
 */
import type { tf } from "./tf.ts";
import { cleanOrphans, loadModel, ModelFileError, writeDirAtomic, writeModelFiles } from "./io.ts";
import { nonFinite, NonFiniteError } from "./finite.ts";

/** What a checkpoint's state.json says: the stage and the epochs (1-based) it has finished. */
export interface CheckpointState {
  stage: string;
  epoch: number;
}

/** The files whose digests state.json records. */
const MODEL_FILES = ["model.json", "weights.bin"];

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes `model` and `state` as `<runDir>/checkpoint`, replacing the previous
 * checkpoint atomically; returns the directory.
 *
 * @throws {NonFiniteError} when a weight is NaN or ±Inf (the previous checkpoint stays).
 * @throws {OutputError} when the disk is full or not writable (the previous checkpoint stays).
 * @example
 * ```ts
 * const dir = await saveCheckpoint(model, runDir, { stage: "distill", epoch: 1 });
 * ```
 */
export async function saveCheckpoint(
  model: tf.LayersModel,
  runDir: string,
  state: CheckpointState,
): Promise<string> {
  const bad = await nonFinite(model.weights);
  if (bad.length) {
    throw new NonFiniteError(
      `not checkpointing ${state.stage} epoch ${state.epoch}: ${bad.join(", ")} hold NaN or Inf`,
    );
  }
  const dir = `${runDir}/checkpoint`;
  await writeDirAtomic(dir, async (tmp) => {
    const files = await writeModelFiles(model, tmp);
    const digests: Record<string, string> = {};
    for (const name of MODEL_FILES) digests[name] = await sha256(files[name]);
    await Deno.writeTextFile(`${tmp}/state.json`, JSON.stringify({ ...state, sha256: digests }));
  });
  return dir;
}

/**
 * The checkpoint directory of `path` (a run directory, or the checkpoint
 * itself when it holds a state.json), after cleaning the leftovers of killed
 * writes around both (a checkpoint set aside by a kill is put back).
 */
async function checkpointDir(path: string): Promise<string> {
  const p = path.replace(/\/+$/, "") || "/";
  const cut = p.lastIndexOf("/");
  await cleanOrphans(p);
  await cleanOrphans(cut < 0 ? "." : p.slice(0, cut) || "/", p.slice(cut + 1));
  try {
    await Deno.stat(`${p}/state.json`);
    return p;
  } catch {
    return `${p}/checkpoint`;
  }
}

/**
 * Reads and checks the checkpoint of a run: `path` is the run directory (or
 * its `checkpoint/`). Cleans the leftovers of killed writes in the run
 * directory first (a checkpoint set aside by a kill is put back), validates
 * state.json and checks that model.json and weights.bin are the files it was
 * saved with. Checkpoints written before digests were recorded are accepted
 * unchecked.
 *
 * @returns the checkpoint directory (for {@link loadModel}) and its state.
 * @throws {ModelFileError} one line, when there is no checkpoint or it is damaged.
 * @example
 * ```ts
 * const { dir, state } = await readCheckpoint("runs/train_teacher/20250101-120000");
 * ```
 */
export async function readCheckpoint(
  path: string,
): Promise<{ dir: string; state: CheckpointState }> {
  const dir = await checkpointDir(path);
  const file = `${dir}/state.json`;
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new ModelFileError(
      e instanceof Deno.errors.NotFound
        ? `no checkpoint in ${path} (no ${file})`
        : `${file} is not valid JSON: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  const s = raw as { stage?: unknown; epoch?: unknown; sha256?: Record<string, unknown> };
  if (typeof s?.stage !== "string" || !Number.isInteger(s.epoch) || (s.epoch as number) < 1) {
    throw new ModelFileError(
      `${file} must give a stage name and a whole epoch >= 1, got ${JSON.stringify(raw)}`,
    );
  }
  if (s.sha256 !== undefined) {
    for (const name of MODEL_FILES) {
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await Deno.readFile(`${dir}/${name}`);
      } catch {
        throw new ModelFileError(`checkpoint ${dir} has no ${name}`);
      }
      if (await sha256(bytes) !== s.sha256?.[name]) {
        throw new ModelFileError(
          `checkpoint ${dir} is damaged: ${name} is not the file its state.json was saved with`,
        );
      }
    }
  }
  return { dir, state: { stage: s.stage, epoch: s.epoch as number } };
}

/**
 * Loads a run's checkpoint, checked as {@link readCheckpoint} says: its model
 * (the caller disposes it) and state.
 *
 * @example
 * ```ts
 * const { model, state } = await loadCheckpoint(runDir);
 * console.log(`resuming after epoch ${state.epoch}`);
 * ```
 */
export async function loadCheckpoint(
  path: string,
): Promise<{ model: tf.LayersModel; state: CheckpointState; dir: string }> {
  const { dir, state } = await readCheckpoint(path);
  return { model: await loadModel(dir), state, dir };
}

/** The file a run writes at its start with its parsed flags (what `--resume` restores). */
export const FLAGS_FILE = "flags.json";

/** Flags a resumed run never takes from the record: its own `--resume` and `--out`, `--config` (merged). */
const NOT_RESTORED = ["resume", "out", "config", "help"];

/** What a run directory records of how the run was started. */
export interface RunRecord {
  /** The pipeline that ran, e.g. "train_teacher". */
  pipeline: string;
  /** Its parsed flags, without `resume`, `out` and `config`. */
  flags: Record<string, unknown>;
}

/**
 * The run directory of `path`: `path` itself, or the directory above it when
 * `path` is a run's `checkpoint/` (both are what `--resume` takes).
 *
 * @example
 * ```ts
 * runDirOf("runs/relu_taylor/x/checkpoint/"); // "runs/relu_taylor/x"
 * runDirOf("runs/relu_taylor/x"); // "runs/relu_taylor/x"
 * ```
 */
export function runDirOf(path: string): string {
  const p = path.replace(/\/+$/, "") || "/";
  if (p !== "checkpoint" && !p.endsWith("/checkpoint")) return p;
  return p.slice(0, -"checkpoint".length).replace(/\/+$/, "") || (p[0] === "/" ? "/" : ".");
}

/**
 * The pipeline and flags a run was started with, as its run directory
 * records them ({@link FLAGS_FILE}, written at the start, else
 * report.json); `path` is the run directory or its `checkpoint/`.
 * Undefined when the directory holds no record (a run from before records
 * were written).
 *
 * @throws {ModelFileError} when `path` does not exist or its record is malformed.
 * @example
 * ```ts
 * const rec = await readRunFlags("runs/train_teacher/20250101-120000");
 * rec?.flags.dataset; // "cifar10"
 * ```
 */
export async function readRunFlags(path: string): Promise<RunRecord | undefined> {
  const p = path.replace(/\/+$/, "") || "/";
  try {
    await Deno.stat(p);
  } catch {
    throw new ModelFileError(`--resume ${path}: no such run directory`);
  }
  for (const dir of new Set([p, runDirOf(p)])) {
    for (const file of [FLAGS_FILE, "report.json"]) {
      let text: string;
      try {
        text = await Deno.readTextFile(`${dir}/${file}`);
      } catch {
        continue;
      }
      let rec: Partial<RunRecord> | undefined;
      try {
        rec = JSON.parse(text);
      } catch (e) {
        throw new ModelFileError(`${dir}/${file} is not valid JSON: ${(e as Error).message}`);
      }
      const flags = rec?.flags;
      if (
        typeof rec?.pipeline !== "string" || !flags || typeof flags !== "object" ||
        Array.isArray(flags)
      ) {
        throw new ModelFileError(`${dir}/${file} does not record a pipeline and its flags`);
      }
      const out = { ...flags };
      for (const k of NOT_RESTORED) delete out[k];
      return { pipeline: rec.pipeline, flags: out };
    }
  }
  return undefined;
}
