/**
 * ReLUPruner: keep only a budget of ReLU elements (each removed ReLU becomes
 * the identity), chosen by Taylor importance while the student is distilled
 * from its teacher, the budget tightening on a progressive schedule (the
 * `relu_taylor/progressive` training callback). Target: activations; any
 * activations scorer and pruner fit (`--scorer`, `--pruner`).
 *
 * With no flags: trains a small ResNet-18 teacher on the embedded MNIST
 * digits, then distils a CustomResNet-18 student (width 1/8) down to 10% of
 * its ReLUs, and evaluates both.
 *
 * @example
 * ```sh
 * deno task run pipelines/relu_taylor.ts
 * deno task run pipelines/relu_taylor.ts --dataset cifar10 --data_dir ~/data/cifar \
 *   --path_t runs/train_teacher/<t>/model --width 1 --epochs 160 --warmup 5 \
 *   --mask_interval 100 --global_keep_ratio 0.1 --alpha 0.5 --gamma 0.5
 * ```
 * @module
 */
import {
  activationMaskLayers,
  checkBudget,
  checkLayers,
  control,
  distill,
  evaluate,
  type Evaluation,
  finetune,
  type FlagDefs,
  inheritWeights,
  load,
  PartChooser,
  type PipelineSpec,
  progressive,
  type PruneUpdateRow,
  reluElements,
  reluTable,
  runMain,
  stage,
  weighted,
} from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import { modelNames as models } from "@shears/models";
import * as common from "./common.ts";

const AT_LAYERS = ["layer2_1_relu2", "layer3_1_relu2", "layer4_1_relu2"];

/** Flags of relu_taylor (the seed's names). */
export const reluTaylorFlags = {
  ...common.dataFlags,
  path_t: { type: "string", help: "trained teacher model dir (default: train one first)" },
  model_t: { type: "string", default: "resnet18", choices: models, help: "teacher architecture" },
  model_s: { type: "string", default: "custom_resnet18", choices: models, help: "student" },
  width: { ...common.widthFlag, default: 0.125, help: "width of built models (1: the paper's)" },
  init: {
    type: "string",
    default: "scratch",
    choices: ["scratch", "teacher"],
    help: "student init",
  },
  ...common.distillFlags,
  global_keep_ratio: { ...common.ratioFlag, default: 0.1, help: "fraction of ReLUs to keep" },
  target_relus: {
    type: "int",
    min: 1,
    help: "exact number of ReLUs to keep (instead of the ratio)",
  },
  scorer: { type: "string", default: "taylor", help: "activations scorer" },
  pruner: { type: "string", default: "global_topk", help: "activations pruner" },
  schedule: { type: "string", default: "progressive", help: "training callback that prunes" },
  regularizer: {
    type: "string",
    default: "attention",
    help: "the fine-tune's feature term, or none",
  },
  depth_bias: { type: "number", default: 0.2, min: 0, help: "depth bias of the layer weights" },
  layer_norm: {
    type: "string",
    default: "none",
    choices: ["none", "mean"],
    help: "see the pruner",
  },
  monotone_masks: { type: "boolean", default: false, help: "masks only shrink (a pruner option)" },
  epochs: { type: "int", default: 6, min: 1, help: "distillation epochs E (the paper: 160)" },
  warmup: { type: "int", default: 1, min: 0, help: "epochs before pruning starts (the paper: 5)" },
  mask_interval: { type: "int", default: 20, min: 1, help: "batches between mask updates (100)" },
  batch_size: { type: "int", default: 128, min: 1, help: "batch size (the paper: 128)" },
  lr: { ...common.trainFlags.lr, help: "SGD learning rate (cosine-annealed)" },
  momentum: common.trainFlags.momentum,
  weight_decay: common.trainFlags.weight_decay,
  teacher_epochs: { type: "int", default: 3, min: 1, help: "epochs to train the teacher" },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs, masks frozen" },
  at_layers: { type: "strings", default: AT_LAYERS, help: "layers of the attention transfer" },
  resume: {
    type: "string",
    help: "a relu_taylor run dir: its checkpoint is the student, its flags the defaults",
  },
} satisfies FlagDefs;

/** One mask update in report.json's `mask_updates`. */
export type MaskUpdateRow = PruneUpdateRow;

/** The relu_taylor pipeline. */
export const reluTaylorPipeline: PipelineSpec<typeof reluTaylorFlags> = {
  name: "relu_taylor",
  description:
    "ReLUPruner: Taylor importance of single ReLUs, progressive removal to a ReLU budget, KD.",
  flags: reluTaylorFlags,
  plugins: [reluTaylor],
  takes: { target: "activations", flags: common.partFlags({ callbacks: "--schedule" }) },
  async build(f, ctx, ready) {
    const alpha = common.kdAlpha(f);
    const parts = new PartChooser(ctx.registry, f.opt);
    const target = "activations";
    const scorer = parts.choose("scorer", "scorers", f.scorer, {
      target,
      defaults: { depth_bias: f.depth_bias },
    });
    const pruner = parts.choose("pruner", "pruners", f.pruner, {
      target,
      defaults: { layer_norm: f.layer_norm, monotone: f.monotone_masks },
    });
    const callback = parts.choose("schedule", "callbacks", f.schedule, {
      defaults: { warmup: f.warmup, interval: f.mask_interval },
    });
    const reg = f.finetune_epochs && f.regularizer !== "none"
      ? parts.choose("regularizer", "regularizers", f.regularizer, {
        defaults: { layers: f.at_layers },
      })
      : undefined;
    parts.done();
    await ready();
    const data = await common.dataShape(f);
    let student = f.resume
      ? (await common.resumed(f.resume, data)).model
      : common.zooModel(f.model_s, data, { width: f.width, seed: f.seed });
    if (!activationMaskLayers(student).length) {
      student = await common.transformed(
        student,
        ctx.registry.transform("relu_taylor/masked_relu"),
      );
    }
    const teacher = await common.teacherFor(f, data);
    const budget = f.target_relus ? { keep: f.target_relus } : { keepRatio: f.global_keep_ratio };
    const flag = f.target_relus ? "--target_relus" : "--global_keep_ratio";
    checkBudget(flag, budget, reluElements(student), "ReLUs");
    const features = reg?.part.features?.layers(reg.options);
    if (features) {
      checkLayers("--at_layers", student, features.student, "the student");
      checkLayers("--at_layers", teacher, features.teacher, "the teacher");
    }
    const sgd = {
      kind: "sgd",
      lr: f.lr,
      momentum: f.momentum,
      weightDecay: f.weight_decay,
    } as const;
    const train = { batchSize: f.batch_size, optimizer: sgd, seed: f.seed } as const;
    const cosine = { ...train, schedule: { kind: "cosine" } } as const;
    const ctl = control({ callback, scorer, pruner, budget, epochs: f.epochs });
    return [
      load({ data: common.dataFrom(f, f.seed), model: () => student, teacher: () => teacher }),
      common.pretrain("teacher", () => !f.path_t, { ...cosine, epochs: f.teacher_epochs }),
      evaluate({ name: "teacher", model: (ctx) => ctx.teacher }),
      stage("prepare", async (ctx, emit) => {
        const t = await reluTable(ctx.model!);
        Object.assign(ctx.report, { relus_before: t.kept, relu_layers_before: t.perLayer });
        emit.log(`${t.kept} ReLUs; ${scorer.name}, ${pruner.name}, ${callback.name}`);
      }),
      inheritWeights(() => f.init === "teacher" && !f.resume),
      ctl.start,
      progressive(
        f.epochs,
        (alpha ? distill : finetune)((ctx) => ({
          ...cosine,
          epochs: 1,
          epochOffset: ctx.step.index,
          totalEpochs: f.epochs,
          alpha,
          gamma: f.gamma,
          temperature: f.temperature,
          ...ctl.hooks(ctx),
        })),
      ),
      ctl.finish,
      ...(f.finetune_epochs > 0
        ? [finetune({
          ...cosine,
          epochs: f.finetune_epochs,
          gamma: 0.5,
          alpha: 0.5,
          temperature: f.temperature,
          regularizers: reg ? [weighted(reg, 1000)] : [],
        })]
        : []),
      evaluate({ name: "student" }),
    ];
  },
  async summarize(ctx) {
    const t = ctx.report.teacher as Evaluation, s = ctx.report.student as Evaluation;
    const counts = await reluTable(ctx.model!);
    Object.assign(ctx.report, {
      relus_after: counts.kept,
      teacher_accuracy: t.top1,
      student_accuracy: s.top1,
      relu_layers_after: counts.perLayer,
    });
    const before = ctx.report.relus_before as number, pct = common.pct;
    const updates = (ctx.report.mask_updates ?? []) as MaskUpdateRow[];
    const atTarget = updates.filter((u) => u.kept === counts.kept);
    const churn = atTarget.reduce((a, u) => a + u.revived / u.kept, 0) /
      Math.max(1, atTarget.length);
    const rows = counts.perLayer.map((r) => [r.name, r.before, r.after]);
    return [
      "",
      ...common.table(["layer", "ReLUs", "kept"], rows, true),
      "",
      `ReLUs            ${before} -> ${counts.kept} (${pct(counts.kept / before)} kept)`,
      `mask updates     ${updates.length}` +
      (atTarget.length
        ? `; at the budget, ${pct(churn)} of the kept ReLUs change per update (${atTarget.length})`
        : ""),
      `teacher top-1    ${pct(t.top1)}`,
      `student top-1    ${pct(s.top1)}`,
    ];
  },
};

if (import.meta.main) runMain(reluTaylorPipeline);
