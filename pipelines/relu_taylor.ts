/**
 * ReLUPruner: keep only a budget of ReLU elements (each removed ReLU becomes
 * the identity), chosen by Taylor importance while the student is distilled
 * from its teacher, the budget tightening on a progressive schedule.
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
  distill,
  evaluate,
  type Evaluation,
  finetune,
  type FlagDefs,
  load,
  loadModel,
  type PipelineSpec,
  progressive,
  type RunContext,
  runMain,
  type ScoreSession,
  stage,
  type tf,
  UsageError,
} from "@shears/core";
import reluTaylor, {
  attentionLoss,
  type MaskController,
  maskController,
  reluCounts,
  targetEpoch,
} from "@shears/relu_taylor";
import { buildModel, modelNames } from "@shears/models";
import { dataFlags, dataFrom, pretrain, trainFlags, widthFlag } from "./common.ts";

/** Flags of relu_taylor (the seed's names). */
export const reluTaylorFlags = {
  ...dataFlags,
  path_t: {
    type: "string",
    help: "trained teacher model dir; without it a teacher is trained first",
  },
  model_t: {
    type: "string",
    default: "resnet18",
    choices: modelNames,
    help: "teacher architecture (without --path_t)",
  },
  model_s: {
    type: "string",
    default: "custom_resnet18",
    choices: modelNames,
    help: "student architecture (its ReLUs become MaskedReLU)",
  },
  width: {
    ...widthFlag,
    default: 0.125,
    help: "channel width multiplier of built models (1 = the paper's)",
  },
  init: {
    type: "string",
    default: "scratch",
    choices: ["scratch", "teacher"],
    help: "student start: fresh weights, or the teacher's where names and shapes match",
  },
  distill: { type: "string", default: "kd", choices: ["kd", "none"], help: "distillation loss" },
  alpha: { type: "number", default: 0.5, min: 0, help: "weight of the KD loss" },
  gamma: { type: "number", default: 0.5, min: 0, help: "weight of the cross-entropy loss" },
  temperature: { type: "number", default: 4, min: 0, minExclusive: true, help: "KD temperature" },
  global_keep_ratio: {
    type: "number",
    default: 0.1,
    min: 0,
    max: 1,
    minExclusive: true,
    help: "fraction of ReLUs to keep",
  },
  target_relus: {
    type: "int",
    min: 1,
    help: "exact number of ReLUs to keep (overrides --global_keep_ratio)",
  },
  scorer: {
    type: "string",
    default: "taylor",
    help: "taylor | first_order | second_order | activation | random, or plugin/name",
  },
  depth_bias: { type: "number", default: 0.2, min: 0, help: "depth bias of the layer weights" },
  layer_norm: {
    type: "string",
    default: "none",
    choices: ["none", "mean"],
    help: "scores per layer before the global top-k: none (the reference) or over their mean",
  },
  monotone_masks: {
    type: "boolean",
    default: false,
    help: "masks only shrink (a pruned ReLU never returns); the reference rebuilds them",
  },
  epochs: { type: "int", default: 6, min: 1, help: "distillation epochs E (the paper: 160)" },
  warmup: {
    type: "int",
    default: 1,
    min: 0,
    help: "warmup epochs before pruning starts (the paper: 5)",
  },
  mask_interval: {
    type: "int",
    default: 20,
    min: 1,
    help: "global batches between mask updates; doubled after the target epoch (the paper: 100)",
  },
  batch_size: {
    type: "int",
    default: 128,
    min: 1,
    help: "batch size (the paper: 128; 32 for Tiny-ImageNet)",
  },
  lr: { ...trainFlags.lr, help: "SGD learning rate (cosine-annealed)" },
  momentum: trainFlags.momentum,
  weight_decay: trainFlags.weight_decay,
  teacher_epochs: {
    type: "int",
    default: 3,
    min: 1,
    help: "epochs to train the teacher when no --path_t",
  },
  finetune_epochs: {
    type: "int",
    default: 0,
    min: 0,
    help: "fine-tune with masks frozen: 0.5 CE + 0.5 KD + 1000 x attention transfer",
  },
  at_layers: {
    type: "strings",
    default: ["layer2_1_relu2", "layer3_1_relu2", "layer4_1_relu2"],
    help: "feature layers of the attention-transfer term",
  },
  resume: {
    type: "string",
    help: "a relu_taylor run dir: continue with its checkpoint as the student (masks included)",
  },
} satisfies FlagDefs;

type Flags = Parameters<PipelineSpec<typeof reluTaylorFlags>["build"]>[0];

/** Copies the teacher's weights into the student where layer names and shapes match. */
function initFromTeacher(student: tf.LayersModel, teacher: tf.LayersModel): number {
  let copied = 0;
  for (const l of student.layers) {
    const t = teacher.layers.find((x) => x.name === l.name);
    const tw = t?.getWeights() ?? [];
    const sw = l.getWeights();
    if (
      tw.length && tw.length === sw.length &&
      tw.every((w, i) => w.shape.join() === sw[i].shape.join())
    ) {
      l.setWeights(tw);
      copied++;
    }
  }
  return copied;
}

/** One mask update in report.json's `mask_updates`. */
export interface MaskUpdateRow {
  /** Global batch after which the masks were rebuilt. */
  batch: number;
  /** Schedule epoch (from 1). */
  epoch: number;
  keep_ratio: number;
  kept: number;
  /** Kept ReLUs that the previous masks had pruned (the churn of a rebuild). */
  revived: number;
}

/** The student: built (ReLUs made maskable) or resumed from a checkpoint. */
function studentFrom(f: Flags) {
  return async (ctx: RunContext) => {
    if (f.resume) return await loadModel(`${f.resume}/checkpoint`);
    const d = ctx.data!;
    const m = buildModel(f.model_s, {
      inputShape: d.inputShape,
      numClasses: d.numClasses,
      width: f.width,
      seed: f.seed,
    });
    return activationMaskLayers(m).length
      ? m
      : await ctx.registry.transform("relu_taylor/masked_relu").apply(m, {});
  };
}

interface Progress {
  session: ScoreSession;
  controller: MaskController;
}

/** The relu_taylor pipeline. */
export const reluTaylorPipeline: PipelineSpec<typeof reluTaylorFlags> = {
  name: "relu_taylor",
  description:
    "ReLUPruner: Taylor importance of single ReLUs, progressive removal to a ReLU budget, KD.",
  flags: reluTaylorFlags,
  plugins: [reluTaylor],
  build(f) {
    if (f.distill === "kd" && !(f.alpha > 0)) {
      throw new UsageError("--distill kd needs --alpha > 0");
    }
    const scorerName = f.scorer.includes("/") ? f.scorer : `relu_taylor/${f.scorer}`;
    const schedule = {
      epochs: f.epochs,
      warmup: f.warmup,
      target: f.global_keep_ratio,
      interval: f.mask_interval,
    };
    const sgd = {
      kind: "sgd" as const,
      lr: f.lr,
      momentum: f.momentum,
      weightDecay: f.weight_decay,
    };
    const alpha = f.distill === "kd" ? f.alpha : 0;
    const at = (ctx: RunContext) => ctx.state.get("relu_taylor") as Progress;
    return [
      load({
        data: dataFrom(f, f.seed),
        model: studentFrom(f),
        teacher: (ctx) =>
          f.path_t ? loadModel(f.path_t) : buildModel(f.model_t, {
            inputShape: ctx.data!.inputShape,
            numClasses: ctx.data!.numClasses,
            width: f.width,
            seed: f.seed + 1, // not the student's draws where layers match
          }),
      }),
      pretrain("teacher", () => !f.path_t, {
        epochs: f.teacher_epochs,
        batchSize: f.batch_size,
        optimizer: sgd,
        schedule: { kind: "cosine" },
        seed: f.seed,
      }),
      evaluate({ name: "teacher", model: (ctx) => ctx.teacher }),
      stage("prepare", async (ctx, emit) => {
        const counts = await reluCounts(ctx.model!);
        ctx.report.relus_before = counts.kept;
        ctx.report.relu_layers_before = counts.perLayer;
        if (f.init === "teacher" && !f.resume) {
          emit.log(
            `student: ${
              initFromTeacher(ctx.model!, ctx.teacher!)
            } layers initialised from the teacher`,
          );
        }
        const session = ctx.registry.scorer(scorerName).start(ctx, { depth_bias: f.depth_bias });
        const controller = maskController(
          ctx,
          session,
          ctx.registry.pruner("relu_taylor/global_topk"),
          {
            ...schedule,
            target: f.target_relus === undefined ? f.global_keep_ratio : undefined,
            targetRelus: f.target_relus,
          },
          { layer_norm: f.layer_norm, monotone: f.monotone_masks },
        );
        ctx.state.set("relu_taylor", { session, controller } satisfies Progress);
        emit.log(
          `${counts.kept} ReLUs; keep ${f.target_relus ?? `${f.global_keep_ratio * 100}%`} ` +
            `by epoch ${targetEpoch(schedule)} of ${f.epochs}; scorer ${scorerName}`,
        );
      }),
      progressive(
        f.epochs,
        (alpha ? distill : finetune)((ctx) => ({
          epochs: 1,
          epochOffset: ctx.step.index,
          totalEpochs: f.epochs,
          batchSize: f.batch_size,
          optimizer: sgd,
          schedule: { kind: "cosine" },
          alpha,
          gamma: f.gamma,
          temperature: f.temperature,
          seed: f.seed,
          sessions: [at(ctx).session],
          onBatchEnd: async (info) => {
            const controller = at(ctx).controller;
            if (await controller.onBatchEnd(info)) {
              ctx.report.relus_active = (await reluCounts(ctx.model!)).kept;
              const { epoch, budget, result } = controller.last!;
              ((ctx.report.mask_updates ??= []) as MaskUpdateRow[]).push({
                batch: controller.batches,
                epoch,
                keep_ratio: budget.keepRatio ?? result.kept / result.total,
                kept: result.kept,
                revived: result.revived ?? 0,
              });
            }
          },
        })),
      ),
      stage("final masks", async (ctx, emit) => {
        const { controller, session } = at(ctx);
        const want = controller.budgetAt(f.epochs);
        if (JSON.stringify(controller.last?.budget) !== JSON.stringify(want)) {
          await controller.update(want, f.epochs);
          emit.log(
            "the schedule ended before a mask update at the target; masks set to it now (no training after)",
            "warn",
          );
        }
        session.dispose();
        ctx.state.delete("relu_taylor");
        ctx.report.relus_after = (await reluCounts(ctx.model!)).kept;
      }),
      ...(f.finetune_epochs > 0
        ? [finetune({
          epochs: f.finetune_epochs,
          batchSize: f.batch_size,
          optimizer: sgd,
          schedule: { kind: "cosine" },
          gamma: 0.5,
          alpha: 0.5,
          temperature: f.temperature,
          features: { student: f.at_layers, teacher: f.at_layers },
          extraLoss: (s, t) => attentionLoss(s, t, 1000),
          seed: f.seed,
        })]
        : []),
      evaluate({ name: "student" }),
    ];
  },
  async summarize(ctx) {
    const t = ctx.report.teacher as Evaluation, s = ctx.report.student as Evaluation;
    const counts = await reluCounts(ctx.model!);
    Object.assign(ctx.report, {
      relus_after: counts.kept,
      teacher_accuracy: t.top1,
      student_accuracy: s.top1,
      relu_layers_after: counts.perLayer,
    });
    const before = ctx.report.relus_before as number;
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
    const updates = (ctx.report.mask_updates ?? []) as MaskUpdateRow[];
    const atTarget = updates.filter((u) => u.kept === counts.kept);
    const churn = atTarget.length
      ? atTarget.reduce((a, u) => a + u.revived / u.kept, 0) / atTarget.length
      : 0;
    const rows = counts.perLayer.map((r) =>
      `  ${r.name.padEnd(18)} ${String(r.before).padStart(8)} ${String(r.after).padStart(8)}`
    );
    return [
      "",
      "layer                  ReLUs     kept",
      ...rows,
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
