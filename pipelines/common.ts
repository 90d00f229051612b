/**
 * What the pipelines share: model and data flags, the factories the load
 * stage calls, and a stage that trains a model from scratch when none was
 * given (so every pipeline runs with no flags on the embedded mnist data).
 * @module
 */
import {
  type FitSpec,
  type FlagDef,
  type FlagDefs,
  loadModel,
  type RunContext,
  type Stage,
  stage,
  type tf,
  train,
  UsageError,
} from "@shears/core";
import type { Dataset } from "@shears/core";
import { buildModel, modelNames } from "@shears/models";
import { datasetNames, loadDataset } from "@shears/datasets";

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

/** What {@link modelFlags} returns, with the literal types FlagValues reads. */
export type ModelFlagDefs = {
  model: FlagDef & { type: "string"; default: string };
  width: FlagDef & { type: "number"; default: number };
  path: FlagDef & { type: "string" };
};

/** --model, --width, --path. */
export function modelFlags(defaultModel: string): ModelFlagDefs {
  return {
    model: {
      type: "string",
      default: defaultModel,
      choices: modelNames,
      help: "architecture from the model zoo (ignored with --path)",
    },
    width: {
      type: "number",
      default: 1,
      min: 0,
      minExclusive: true,
      help: "channel width multiplier of the built model",
    },
    path: {
      type: "string",
      help: "a saved model directory (model.json + weights.bin) to start from",
    },
  } satisfies FlagDefs;
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

/** Builds `name` from the zoo for the run's data, or loads `path` (checked against the data's shape). */
export function modelFrom(
  f: { model: string; width: number; path?: string },
): (ctx: RunContext) => Promise<tf.LayersModel> {
  return async (ctx) => {
    const data = ctx.data!;
    if (!f.path) {
      return buildModel(f.model, {
        inputShape: data.inputShape,
        numClasses: data.numClasses,
        width: f.width,
      });
    }
    const m = await loadModel(f.path);
    const inShape = (m.inputs[0].shape as number[]).slice(1);
    const outN = (m.outputs[0].shape as number[]).at(-1);
    if (inShape.join() !== data.inputShape.join() || outN !== data.numClasses) {
      throw new UsageError(
        `model ${f.path} takes [${inShape}] -> ${outN} classes, but ${data.name} is [${data.inputShape}] with ${data.numClasses} classes`,
      );
    }
    return m;
  };
}

/**
 * Trains `ctx.model` (or `ctx.teacher`) from scratch when `when(ctx)` says
 * so, e.g. because no trained model was given. Plain SGD with a cosine
 * schedule, the test accuracy logged per epoch.
 */
export function pretrain(
  which: "model" | "teacher",
  when: (ctx: RunContext) => boolean,
  cfg: FitSpec,
): Stage {
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
