/**
 * What the pipelines share: model, data and training flags (spread them,
 * overriding `default` or `help` where a pipeline differs), the dataset's
 * shape before its load (for the preflight), the models a run starts from
 * (built for that shape, or loaded and checked against it), zero-padding
 * small images in front of a built model, and a stage that trains a model
 * from scratch when none was given (so every pipeline runs with no flags on
 * the embedded mnist data).
 * @module
 */
import {
  buildChannelGraph,
  checkModelShape,
  type FitSpec,
  type FlagDef,
  type FlagDefs,
  load,
  loadModel,
  type MacGoal,
  type Options,
  type PartKind,
  pct,
  readCheckpoint,
  registerOpaqueLayer,
  type RunContext,
  runDirOf,
  save,
  type Schedule,
  type SpeedUp,
  type Stage,
  stage,
  tf,
  train,
  type Transform,
  unknownLayers,
  unsupportedLayer,
  UsageError,
} from "@shears/core";
import type { Dataset } from "@shears/core";
import { type AnyModelOptions, buildModel, minInputSide, modelNames } from "@shears/models";
import { datasetNames, type DatasetShape, datasetShape, loadDataset } from "@shears/datasets";

/** --dataset, --data_dir and example limits. */
export const dataFlags = {
  dataset: {
    type: "string",
    default: "mnist",
    choices: datasetNames,
    help: "dataset (mnist is embedded; the others read files from --data_dir)",
  },
  data_dir: { type: "string", help: "directory with the dataset's files" },
  limit_train: { type: "int", min: 1, help: "use at most this many training examples" },
  limit_test: { type: "int", min: 1, help: "use at most this many test examples" },
} satisfies FlagDefs;

/**
 * --speed_up: prune channels until the MACs fall by this factor (> 1).
 *
 * @example
 * ```ts
 * const flags = { speed_up: { ...speedUpFlag, excludes: ["iterations"] } } satisfies FlagDefs;
 * ```
 */
export const speedUpFlag = {
  type: "number",
  min: 1,
  minExclusive: true,
  help: "channels: prune until the MACs fall by this factor",
} satisfies FlagDef;

/** A fraction of units to keep, in (0, 1]; set `default` and `help`. */
export const ratioFlag = {
  type: "number",
  min: 0,
  max: 1,
  minExclusive: true,
  help: "fraction to keep",
} satisfies FlagDef;

/** Fractions of units to prune, each in [0, 1) (a sweep's points); set `default` and `help`. */
export const fractionsFlag = {
  type: "numbers",
  min: 0,
  max: 1,
  maxExclusive: true,
  help: "fractions to prune",
} satisfies FlagDef;

/** --width: the channel width multiplier of a zoo model. */
export const widthFlag = {
  type: "number",
  default: 1,
  min: 0,
  minExclusive: true,
  help: "channel width multiplier of the built model",
} satisfies FlagDef;

/** What {@link modelFlags} returns, with the literal types FlagValues reads. */
export type ModelFlagDefs = {
  model: FlagDef & { type: "string"; default: string };
  width: FlagDef & { type: "number"; default: number };
  path: FlagDef & { type: "string" };
};

/** --model (default `defaultModel`), --width (default `defaultWidth`), --path. */
export function modelFlags(defaultModel: string, defaultWidth = 1): ModelFlagDefs {
  return {
    model: {
      type: "string",
      default: defaultModel,
      choices: modelNames,
      help: "architecture from the model zoo (ignored with --path)",
    },
    width: { ...widthFlag, default: defaultWidth },
    path: {
      type: "string",
      help: "a saved model directory (model.json + weights.bin) to start from",
    },
  } satisfies FlagDefs;
}

/** Training flags several pipelines have; each takes the ones it needs. */
export const trainFlags = {
  batch_size: { type: "int", default: 64, min: 1, help: "batch size" },
  lr: { type: "number", default: 0.05, min: 0, minExclusive: true, help: "initial learning rate" },
  momentum: { type: "number", default: 0.9, min: 0, max: 1, help: "SGD momentum" },
  weight_decay: { type: "number", default: 5e-4, min: 0, help: "L2 weight decay" },
  augment: {
    type: "boolean",
    default: true,
    help: "random crop (+ flip where the dataset allows)",
  },
  pretrain_epochs: {
    type: "int",
    default: 3,
    min: 1,
    help: "epochs to train the model first when no --path is given",
  },
} satisfies FlagDefs;

/**
 * A training stage's recipe but its epochs, from the `--batch_size`, `--lr`,
 * `--momentum`, `--weight_decay` ({@link trainFlags}) and `--seed` flags:
 * SGD with momentum and weight decay on the lr `schedule`.
 *
 * @example
 * ```ts
 * finetune({ ...sgdRecipe(f, { kind: "cosine" }), epochs: f.epochs });
 * ```
 */
export function sgdRecipe(
  f: { batch_size: number; lr: number; momentum: number; weight_decay: number; seed: number },
  schedule: Schedule,
): Omit<FitSpec, "epochs"> {
  return {
    batchSize: f.batch_size,
    optimizer: { kind: "sgd", lr: f.lr, momentum: f.momentum, weightDecay: f.weight_decay },
    schedule,
    seed: f.seed,
  };
}

/** --pad: zero-padding of the images per side, 28 -> 32 for the VGGs, which need 32x32. */
export const padFlag = {
  type: "int",
  default: 2,
  min: 0,
  help: "zero-pad images by this many pixels per side (28 -> 32 for the VGGs)",
} satisfies FlagDef;

/** --allow_unknown: the flag of every pipeline that prunes channels ({@link channelPreflight}). */
export const channelFlags = {
  allow_unknown: {
    type: "boolean",
    default: false,
    help: "prune around layers the channel graph does not know, their channels pinned",
  },
} satisfies FlagDefs;

/** A layer the channel graph did not know, and the groups pinned for it (report `pinned_unknown`). */
export interface PinnedLayer {
  layer: string;
  className: string;
  /** Ids of the channel groups that its input or output channels belong to. */
  groups: string[];
}

/**
 * The channel graph's preflight of a model to prune: a layer of a class the
 * graph does not know (a custom layer with no channel registration) is a
 * one-line usage error naming it and how to register it. With
 * `--allow_unknown`, each such class is registered opaque for the run
 * (core's registerOpaqueLayer: its input and output channels pinned, every
 * other group prunable), and the returned stage logs the pinned layers and
 * groups and records them in report.json `pinned_unknown`.
 *
 * @example
 * ```ts
 * const pinned = common.channelPreflight(m, f); // in build, before the stages
 * return [load({ ... }), ...pinned, ...];
 * ```
 */
export function channelPreflight(model: tf.LayersModel, f: { allow_unknown: boolean }): Stage[] {
  const unknown = unknownLayers(model);
  if (unknown.length === 0) return [];
  if (!f.allow_unknown) throw unsupportedLayer(unknown[0].layer, unknown[0].className);
  for (const u of unknown) {
    registerOpaqueLayer(u.className, "the channel graph does not know (--allow_unknown)");
  }
  const graph = buildChannelGraph(model);
  const pinned: PinnedLayer[] = unknown.map((u) => {
    const inbound = model.getLayer(u.layer).inboundNodes.flatMap((n) =>
      n.inboundLayers.map((l) => l.name)
    );
    const ids = [u.layer, ...inbound].flatMap((l) => graph.groupsOf(l).map((g) => g.id));
    return { ...u, groups: [...new Set(ids)] };
  });
  return [stage("pinned layers", (ctx, emit) => {
    ctx.report.pinned_unknown = pinned;
    for (const p of pinned) {
      emit.log(
        `--allow_unknown: layer '${p.layer}' (${p.className}) is opaque to the channel graph; ` +
          `channel groups pinned (not pruned): ${p.groups.join(", ")}`,
        "warn",
      );
    }
  })];
}

type DataFlagValues = {
  dataset: string;
  data_dir?: string;
  limit_train?: number;
  limit_test?: number;
};

/** The load stage's data factory for the parsed flags. */
export function dataFrom(f: DataFlagValues, seed = 0): () => Promise<Dataset> {
  return () =>
    loadDataset(f.dataset, {
      dataDir: f.data_dir,
      limitTrain: f.limit_train,
      limitTest: f.limit_test,
      seed,
    });
}

/** A dataset's name and shape: what a model must take, known before the data loads. */
export type DataShape = DatasetShape & { name: string };

/** The shape of the flags' dataset, without loading it (for the preflight). */
export async function dataShape(f: DataFlagValues): Promise<DataShape> {
  return { name: f.dataset, ...await datasetShape(f.dataset, { dataDir: f.data_dir }) };
}

/**
 * A zoo model built for the data, checked to classify it (one score per
 * class: a U-Net's per-pixel output is refused), or what is wrong as a
 * usage error.
 */
export function zooModel(
  name: string,
  data: DataShape,
  opts: Omit<AnyModelOptions, "inputShape" | "numClasses">,
): tf.LayersModel {
  let m: tf.LayersModel;
  try {
    m = buildModel(name, { ...opts, inputShape: data.inputShape, numClasses: data.numClasses });
  } catch (e) {
    throw new UsageError(
      `--model ${name} cannot be built for ${data.name} [${data.inputShape}]: ${
        (e as Error).message.split("\n")[0]
      }`,
    );
  }
  try {
    checkModelShape(`--model ${name}`, m, data.inputShape, data.numClasses, data.name);
  } catch (e) {
    m.dispose();
    throw e;
  }
  return m;
}

/**
 * Builds `name` from the zoo for the data (initialised from `seed`, the
 * run's --seed), or loads `path` (checked against the data's shape). Images
 * smaller than the model's minimum ({@link minInputSide}: MNIST's 28x28 for
 * a VGG or a Keras application, which take >= 32x32) are zero-padded up to
 * it in front of the model ({@link padInput}).
 */
export function modelFrom(f: ModelChoice): (data: DataShape) => Promise<tf.LayersModel> {
  return async (data) => {
    if (f.path) return await savedModelFor(f.path, data);
    const [h, w, c] = data.inputShape, min = minInputSide(f.model);
    return data.inputShape.length === 3 && Math.min(h, w) < min
      ? paddedZooModel(f, data, [Math.max(h, min), Math.max(w, min), c])
      : zooModel(f.model, data, zooOptions(f));
  };
}

const zooOptions = (f: ModelChoice) => ({ ...f.options, width: f.width, seed: f.seed });

/** The zoo model built for `inputShape` images, taking the data's smaller ones zero-padded. */
function paddedZooModel(f: ModelChoice, data: DataShape, inputShape: number[]): tf.LayersModel {
  const inner = zooModel(f.model, { ...data, inputShape }, zooOptions(f));
  try {
    return padInput(inner, data.inputShape);
  } finally {
    inner.dispose();
  }
}

/** A zoo model (name, width, seed, other builder options) or a saved one (`path`). */
export interface ModelChoice {
  model: string;
  width: number;
  path?: string;
  seed?: number;
  options?: Omit<AnyModelOptions, "inputShape" | "numClasses" | "width" | "seed">;
}

/**
 * The saved model at `path`, checked against the data's shape; with `pad`,
 * a model that takes images `pad` pixels larger per side (as rni saved them
 * before it padded inside the model) gets the zero-padding in front
 * ({@link padInput}).
 */
export async function savedModelFor(
  path: string,
  data: DataShape,
  pad = 0,
): Promise<tf.LayersModel> {
  const m = await loadModel(path);
  const [h, w, c] = data.inputShape;
  const inShape = (m.inputs[0].shape as number[]).slice(1);
  let out = m;
  if (pad > 0 && inShape.join() === [h + 2 * pad, w + 2 * pad, c].join()) {
    try {
      out = padInput(m, data.inputShape);
    } finally {
      m.dispose();
    }
  }
  try {
    checkModelShape(`model ${path}`, out, data.inputShape, data.numClasses, data.name);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** A training of a run that `--resume` continues: its epochs, and what its checkpoints call it. */
export interface Training {
  epochs: number;
  /** Its checkpoints' state.json `stage` (e.g. control's `phase`); default: any stage. */
  phase?: string;
}

/**
 * The model of the run `--resume` names and the epochs done of each of its
 * `trainings` (in run order; one of 0 epochs is one the run does not do):
 * those before its checkpoint's training all, that one the checkpoint's,
 * those after none. The checkpoint is validated (state.json well formed,
 * files as saved: one line otherwise) and its model checked against the
 * data before any training. Refused in one line: a checkpoint of none of
 * the trainings (state.json `stage`), and a run that already finished them
 * all (or did more epochs of its checkpoint's training than it has).
 *
 * @example
 * ```ts
 * const { model, done: [done] } = await resumed("runs/train_teacher/x", data, [{ epochs: 5 }]);
 * // a relu_taylor run: the pruning's epochs done, then the fine-tune's
 * await resumed("runs/relu_taylor/x", data, [{ phase: ctl.phase, epochs: 6 },
 *   { phase: "finetune", epochs: 2 }]); // { model, done: [6, 1] } after fine-tune epoch 1
 * ```
 */
export async function resumed(
  path: string,
  data: DataShape,
  trainings: Training[],
): Promise<{ model: tf.LayersModel; done: number[] }> {
  const { dir, state } = await readCheckpoint(path);
  const runs = trainings.filter((t) => t.epochs > 0);
  const at = runs.findIndex((t) => t.phase === undefined || t.phase === state.stage);
  if (at < 0) {
    const names = runs.map((t) => t.phase).join(" or ");
    throw new UsageError(
      `--resume ${path}: its checkpoint is of ${state.stage} (epoch ${state.epoch}), ` +
        `not of ${names}: only ${
          runs.length > 1 ? "those trainings resume" : "that training resumes"
        }`,
    );
  }
  const { epochs, phase } = runs[at];
  if (state.epoch > epochs || (state.epoch === epochs && at === runs.length - 1)) {
    throw new UsageError(
      `--resume: the run already finished ${state.epoch} of ${epochs} epochs` +
        (runs.length > 1 ? ` of ${phase}` : ""),
    );
  }
  const model = await loadModel(dir);
  try {
    checkModelShape(`--resume ${path}`, model, data.inputShape, data.numClasses, data.name);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const i = trainings.indexOf(runs[at]);
  return { model, done: trainings.map((t, j) => j < i ? t.epochs : j === i ? state.epoch : 0) };
}

/**
 * The MAC target of `--speed_up X` (at most 1/X of the MACs before the
 * prune, `base`) or `--target_macs N` (at most N), for core's
 * iterateToBudget; undefined when neither flag was given.
 *
 * @example
 * ```ts
 * iterateToBudget({ name, stages, macs: macGoal(f, (ctx) => evaluation(ctx, "before").macs) });
 * ```
 */
export function macGoal(
  f: { speed_up?: number; target_macs?: number },
  base: (ctx: RunContext) => number,
): MacGoal | undefined {
  const { speed_up: x, target_macs: n } = f;
  if (x) return { flag: `--speed_up ${x}`, base, goal: (b) => b / x };
  if (n) return { flag: `--target_macs ${n}`, base, goal: () => n };
}

/**
 * The model factory for a built model that takes larger images than the
 * data's: built for `size([h, w, c])` of the data's images, which it
 * zero-pads (centred) in front ({@link padInput}). With `path`, or where
 * `size` keeps the shape, it is {@link modelFrom}.
 */
export function paddedModelFrom(
  f: ModelChoice,
  size: (shape: number[]) => number[],
): (data: DataShape) => Promise<tf.LayersModel> {
  if (f.path) return modelFrom(f);
  return async (data) => {
    const shape = data.inputShape;
    if (shape.length !== 3) {
      throw new UsageError(`zero-padding needs image data; ${data.name} is [${shape}]`);
    }
    const inputShape = size(shape);
    if (inputShape.join() === shape.join()) return await modelFrom(f)(data);
    return paddedZooModel(f, data, inputShape);
  };
}

type LayerSpec = {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inboundNodes: unknown[][][];
};

/**
 * A copy of `model` (same weights) taking `shape` images (HWC), which a
 * ZeroPadding2D `<input>_pad` after its input pads, centred, to the model's
 * own input size. Any functional graph; `model` is left as it was.
 */
export function padInput(model: tf.LayersModel, shape: number[]): tf.LayersModel {
  const cfg = structuredClone(model.getConfig()) as unknown as {
    layers: LayerSpec[];
    inputLayers: [string, number, number][];
  };
  const inputName = cfg.inputLayers[0][0];
  const input = cfg.layers.find((l) => l.name === inputName)!;
  const [, H, W] = input.config.batchInputShape as number[];
  input.config.batchInputShape = [null, ...shape];
  const padName = `${inputName}_pad`;
  const split = (total: number) => [Math.floor(total / 2), total - Math.floor(total / 2)];
  for (const l of cfg.layers) {
    for (const node of l.inboundNodes) {
      for (const ref of node) if (ref[0] === inputName) ref[0] = padName;
    }
  }
  cfg.layers.splice(cfg.layers.indexOf(input) + 1, 0, {
    name: padName,
    className: "ZeroPadding2D",
    config: {
      name: padName,
      padding: [split(H - shape[0]), split(W - shape[1])],
      dataFormat: "channelsLast",
    },
    inboundNodes: [[[inputName, 0, 0, {}]]],
  });
  const padded = tf.LayersModel.fromConfig(
    tf.LayersModel,
    cfg as unknown as tf.serialization.ConfigDict,
    {},
    true,
  ) as tf.LayersModel;
  for (const l of model.layers) padded.getLayer(l.name).setWeights(l.getWeights());
  return padded;
}

/** SGD with momentum and weight decay, cosine-annealed: {@link pretrain}'s default recipe. */
const SCRATCH: Pick<FitSpec, "optimizer" | "schedule"> = {
  optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
  schedule: { kind: "cosine" },
};

/**
 * Trains `ctx.model` (or `ctx.teacher`) from scratch when `when(ctx)` says
 * so, e.g. because no trained model was given. SGD (lr 0.05, momentum 0.9,
 * weight decay 5e-4) with a cosine schedule unless `spec` says otherwise, the
 * test accuracy logged per epoch.
 */
export function pretrain(
  which: "model" | "teacher",
  when: (ctx: RunContext) => boolean,
  spec: Omit<FitSpec, "optimizer"> & Partial<Pick<FitSpec, "optimizer">>,
): Stage {
  const cfg: FitSpec = { ...SCRATCH, ...spec };
  return stage(`pretrain ${which}`, async (ctx, emit, cancel) => {
    if (!when(ctx)) return;
    const target = which === "model" ? ctx.model : ctx.teacher;
    if (!target) throw new Error(`pretrain: no ${which} loaded`);
    emit.log(`training the ${which} first (${cfg.epochs} epochs; pass a trained one to skip)`);
    const { model, teacher } = ctx;
    ctx.model = target;
    ctx.teacher = undefined;
    try {
      await train(ctx, { ...cfg, label: `${which} epoch` }, emit, cancel);
    } finally {
      ctx.model = model;
      ctx.teacher = teacher;
    }
  });
}

/** Knowledge distillation from a teacher (relu_taylor, prune.ts). */
export const distillFlags = {
  distill: { type: "string", default: "kd", choices: ["kd", "none"], help: "distillation loss" },
  alpha: { type: "number", default: 0.5, min: 0, help: "weight of the KD loss" },
  gamma: { type: "number", default: 0.5, min: 0, help: "weight of the cross-entropy loss" },
  temperature: { type: "number", default: 4, min: 0, minExclusive: true, help: "KD temperature" },
} satisfies FlagDefs;

/** The KD weight the flags ask for (0: no distillation); `--distill kd` needs `--alpha > 0`. */
export function kdAlpha(f: { distill: string; alpha: number }): number {
  if (f.distill === "kd" && !(f.alpha > 0)) throw new UsageError("--distill kd needs --alpha > 0");
  return f.distill === "kd" ? f.alpha : 0;
}

/** Where in its run directory a run keeps the teacher it trained or resumed with (no --path_t). */
export const TEACHER_DIR = "teacher";

/**
 * The teacher a pipeline distils from, checked against the data: `--path_t`;
 * else, with `--resume`, the one the resumed run kept ({@link TEACHER_DIR}; a
 * run that kept none is refused in one line: pass its teacher as --path_t);
 * else a zoo model ({@link readyTeacher} trains it).
 *
 * @example
 * ```ts
 * const teacher = await teacherFor(f, await dataShape(f));
 * ```
 */
export async function teacherFor(
  f: { path_t?: string; resume?: string; model_t: string; width: number; seed: number },
  data: DataShape,
): Promise<tf.LayersModel> {
  const path = f.path_t ?? (f.resume && `${runDirOf(f.resume)}/${TEACHER_DIR}`);
  if (!path) return zooModel(f.model_t, data, { width: f.width, seed: f.seed + 1 });
  let t: tf.LayersModel;
  try {
    t = await loadModel(path);
  } catch (e) {
    if (f.path_t || await Deno.stat(path).then(() => true, () => false)) throw e;
    throw new UsageError(
      `--resume ${f.resume}: the run kept no teacher (no ${path}); ` +
        "pass the one it distilled from as --path_t",
    );
  }
  checkModelShape(
    `${f.path_t ? "--path_t" : "teacher"} ${path}`,
    t,
    data.inputShape,
    data.numClasses,
    data.name,
  );
  return t;
}

/**
 * The stages that ready {@link teacherFor}'s teacher (loaded as ctx.teacher):
 * train it first ({@link pretrain} with `spec`) when neither `--path_t` nor
 * `--resume` gave a trained one, and without `--path_t` keep it as the run's
 * {@link TEACHER_DIR}, so that a `--resume` of this run distils from the same.
 *
 * @example
 * ```ts
 * [load({ data, model, teacher }), ...readyTeacher(f, { ...sgdRecipe(f, cosine), epochs: 3 })];
 * ```
 */
export function readyTeacher(
  f: { path_t?: string; resume?: string },
  spec: Omit<FitSpec, "optimizer"> & Partial<Pick<FitSpec, "optimizer">>,
): Stage[] {
  return [
    pretrain("teacher", () => !f.path_t && !f.resume, spec),
    save({ dir: TEACHER_DIR, model: (ctx) => ctx.teacher, when: () => !f.path_t }),
  ];
}

/** A fraction as a percentage with two decimals: 0.1234 -> "12.34%" (core's). */
export { pct };

/**
 * Lines of a text table: the header, then the rows, each column right-aligned
 * to its widest cell (the first column left-aligned when `label` is set).
 *
 * @example
 * ```ts
 * table(["p_prune", "top-1"], [[0.5, "93.20%"]]); // ["p_prune   top-1", "    0.5  93.20%"]
 * ```
 */
export function table(header: string[], rows: (string | number)[][], label = false): string[] {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) =>
    r.map((c, i) => (label && i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  );
}

/**
 * The flags naming parts of each kind, for a pipeline's `takes` (its
 * `--help`): `--scorer`, `--pruner`, `--regularizer`, plus `extra`.
 */
export function partFlags(
  extra: Partial<Record<PartKind, string>> = {},
): Partial<Record<PartKind, string>> {
  return { scorers: "--scorer", pruners: "--pruner", ...extra };
}

/** One layer's width (filters, units) before and after pruning. */
export interface WidthRow {
  layer: string;
  before: number;
  after: number;
  removed: number;
}

/** Rows of a per-layer width table: each layer of `before`, its width `after` (0: removed). */
export function widthRows(before: Map<string, number>, after: Map<string, number>): WidthRow[] {
  return [...before].map(([layer, n]) => {
    const a = after.get(layer) ?? 0;
    return { layer, before: n, after: a, removed: n - a };
  });
}

/**
 * The input size of a model that zero-pads the data's images by `pad`
 * pixels per side (for {@link paddedModelFrom}).
 *
 * @example
 * ```ts
 * padBy(2)([28, 28, 1]); // [32, 32, 1]
 * ```
 */
export function padBy(pad: number): (shape: number[]) => number[] {
  return ([h, w, c]) => [h + 2 * pad, w + 2 * pad, c];
}

/**
 * `model` rewritten by a chosen transform part (e.g. `rni/sigmoid_bn`); the
 * input model is disposed when the transform made a new one.
 *
 * @example
 * ```ts
 * m = await transformed(m, ctx.registry.transform("relu_taylor/masked_relu"));
 * ```
 */
export async function transformed(
  model: tf.LayersModel,
  part: Transform,
  options: Options = {},
): Promise<tf.LayersModel> {
  const next = await part.apply(model, options);
  if (next !== model) model.dispose();
  return next;
}

/**
 * Lines of a Markdown table (pipe-separated, with the `|---|` rule).
 *
 * @example
 * ```ts
 * markdownTable(["prune", "top-1"], [[0.5, "91.20%"]]); // ["| prune | top-1 |", "|---|---|", "| 0.5 | 91.20% |"]
 * ```
 */
export function markdownTable(header: string[], rows: (string | number)[][]): string[] {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), `|${header.map(() => "---").join("|")}|`, ...rows.map(line)];
}

/**
 * The first stages of a run on a built or saved model `m`: load the flags'
 * data (shuffled by `--seed`) and `m`, then train `m` first ({@link pretrain},
 * with `spec`) when no `--path` gave a trained one.
 *
 * @example
 * ```ts
 * return [...common.start(f, m, { epochs: f.pretrain_epochs, batchSize: f.batch_size }), ...];
 * ```
 */
export function start(
  f: DataFlagValues & { seed: number; path?: string },
  m: tf.LayersModel,
  spec: Omit<FitSpec, "optimizer" | "seed"> & Partial<Pick<FitSpec, "optimizer">>,
): Stage[] {
  return [
    load({ data: dataFrom(f, f.seed), model: () => m }),
    pretrain("model", () => !f.path, { ...spec, seed: f.seed }),
  ];
}

/** What {@link reportReduction} compares: a model's numbers (an `evaluate` with deployed latency). */
export interface Measured {
  params: number;
  macs: number;
  top1: number;
  latency_ms: number;
}

/** The after / before ratios {@link reportReduction} reports (report.json `ratios`). */
export interface Ratios {
  /** Share of the units left (only with `units`). */
  [unit: string]: number;
  params: number;
  macs: number;
  latency: number;
  /** before / after MACs. */
  mac_reduction: number;
  /** The side-by-side speed-up when measured (core's compareDeployed), else before / after latency. */
  speed_up: number;
}

/**
 * How much smaller and faster a pruned model is than its original, into
 * the report: `ratios` (units left as a share when `units` = [name, before,
 * after]; the speed-up is core's compareDeployed `speed_up` when the run
 * measured one), `top1_before` and `top1_after`; returns two summary lines.
 *
 * @example
 * ```ts
 * const lines = reportReduction(ctx, rows[0], rows.at(-1)!, ["filters", 344, 134]);
 * ```
 */
export function reportReduction(
  ctx: RunContext,
  before: Measured,
  after: Measured,
  units?: [string, number, number],
): string[] {
  const side = ctx.report.speed_up as SpeedUp | undefined;
  const ratio = (a: number, b: number) => (b ? a / b : NaN);
  const ratios: Ratios = {
    ...(units ? { [units[0]]: ratio(units[2], units[1]) } : {}),
    params: ratio(after.params, before.params),
    macs: ratio(after.macs, before.macs),
    latency: ratio(after.latency_ms, before.latency_ms),
    mac_reduction: ratio(before.macs, after.macs),
    speed_up: side?.speed_up ?? ratio(before.latency_ms, after.latency_ms),
  };
  Object.assign(ctx.report, { ratios, top1_before: before.top1, top1_after: after.top1 });
  const ms = [side?.base_ms ?? before.latency_ms, side?.pruned_ms ?? after.latency_ms];
  const share = units ? `${units[0]} ${pct(ratios[units[0]])} of the original, ` : "";
  return [
    `${share}params ${pct(ratios.params)}, MACs ${pct(ratios.macs)} ` +
    `(x${ratios.mac_reduction.toFixed(2)} fewer)`,
    `top-1 ${pct(before.top1)} -> ${pct(after.top1)}; latency ${ms[0].toFixed(2)} -> ` +
    `${ms[1].toFixed(2)} ms (x${ratios.speed_up.toFixed(2)} speed-up` +
    `${side ? ", side by side" : ""}; ` +
    `x${(ratios.speed_up / ratios.mac_reduction).toFixed(2)} of the MAC reduction)`,
  ];
}
