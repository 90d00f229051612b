/**
 * Trains a model of the zoo on a dataset: the teacher (or the dense model)
 * the pruning pipelines start from.
 *
 * @example
 * ```sh
 * deno task run pipelines/train_teacher.ts --model lenet5 --dataset mnist --epochs 5
 * deno task run pipelines/train_teacher.ts --resume runs/train_teacher/<timestamp>
 * ```
 * @module
 */
import {
  evaluate,
  evaluation,
  finetune,
  type FlagDefs,
  load,
  multistepAt,
  pct,
  type PipelineSpec,
  resumeAt,
  runMain,
} from "@shears/core";
import {
  dataFlags,
  dataFrom,
  dataShape,
  type ModelFlagDefs,
  modelFlags,
  modelFrom,
  resumed,
  sgdRecipe,
  trainFlags,
} from "./common.ts";

const modelDefaults: ModelFlagDefs = modelFlags("lenet5");

/** Flags of train_teacher. */
export const trainTeacherFlags = {
  ...modelDefaults,
  ...dataFlags,
  epochs: { type: "int", default: 5, min: 1, help: "training epochs" },
  batch_size: trainFlags.batch_size,
  lr: trainFlags.lr,
  momentum: trainFlags.momentum,
  weight_decay: trainFlags.weight_decay,
  schedule: {
    type: "string",
    default: "cosine",
    choices: ["cosine", "multistep", "constant"],
    help: "lr schedule (multistep: x0.1 at 50% and 75%)",
  },
  augment: trainFlags.augment,
  resume: {
    type: "string",
    help: "a train_teacher run directory to continue from its checkpoint, with its flags " +
      "(the command line overrides the ones it names)",
  },
} satisfies FlagDefs;

/** The train_teacher pipeline. */
export const trainTeacher: PipelineSpec<typeof trainTeacherFlags> = {
  name: "train_teacher",
  description: "Train a model of the zoo on a dataset (the teacher / dense model for pruning).",
  flags: trainTeacherFlags,
  async build(f, _ctx, ready) {
    const m = f.schedule === "multistep"
      ? multistepAt(f.epochs)
      : { kind: f.schedule as "cosine" | "constant" };
    await ready();
    const data = await dataShape(f);
    const from = f.resume ? await resumed(f.resume, data, [{ epochs: f.epochs }]) : undefined;
    const model = from?.model ?? await modelFrom(f)(data);
    return [
      load({ data: dataFrom(f, f.seed), model: () => model }),
      finetune(
        resumeAt({ epochs: f.epochs, ...sgdRecipe(f, m), augment: f.augment }, from?.done[0] ?? 0),
      ),
      evaluate({ name: "model" }),
    ];
  },
  summarize(ctx) {
    const e = evaluation(ctx, "model");
    ctx.report.top1 = e.top1;
    return [`test top-1: ${pct(e.top1)}`, `params: ${e.params}`];
  },
};

if (import.meta.main) runMain(trainTeacher);
