/**
 * ReLUPruner: keep a budget of ReLU elements (the others become identities),
 * chosen by Taylor importance while the student is distilled from its teacher,
 * the budget tightening on a progressive schedule (the `relu_taylor/progressive`
 * callback). Target: activations; any activations scorer and pruner fit. With no
 * flags: trains a small ResNet-18 teacher on the embedded MNIST digits, distils a
 * CustomResNet-18 student (width 1/8) down to 10% of its ReLUs, evaluates both. The steps, the
 * default run and its figures: docs/methods.md.
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
import * as core from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import { modelNames as models } from "@shears/models";
import * as common from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

const AT_LAYERS = ["layer2_1_relu2", "layer3_1_relu2", "layer4_1_relu2"];
const INITS = ["scratch", "teacher"];

/** Flags of relu_taylor (the seed's names). */
export const reluTaylorFlags = {
  ...common.dataFlags,
  path_t: { type: "string", help: "trained teacher model dir (default: train one first)" },
  model_t: { type: "string", default: "resnet18", choices: models, help: "teacher architecture" },
  model_s: { type: "string", default: "custom_resnet18", choices: models, help: "student" },
  width: { ...common.widthFlag, default: 0.125, help: "width of built models (1: the paper's)" },
  init: { type: "string", default: "scratch", choices: INITS, help: "student's initial weights" },
  ...common.distillFlags,
  global_keep_ratio: { ...common.ratioFlag, default: 0.1, help: "fraction of ReLUs to keep" },
  target_relus: { type: "int", min: 1, help: "exact number of ReLUs to keep (not the ratio)" },
  scorer: { type: "string", default: "taylor", help: "activations scorer" },
  pruner: { type: "string", default: "global_topk", help: "activations pruner" },
  schedule: { type: "string", default: "progressive", help: "training callback that prunes" },
  regularizer: { type: "string", default: "attention", help: "fine-tune's feature term, or none" },
  depth_bias: { type: "number", default: 0.2, min: 0, help: "depth bias of the layer weights" },
  layer_norm: { type: "string", default: "none", choices: ["none", "mean"], help: "pruner option" },
  monotone_masks: { type: "boolean", default: false, help: "masks only shrink (a pruner option)" },
  epochs: { type: "int", default: 6, min: 1, help: "distillation epochs E (the paper: 160)" },
  warmup: { type: "int", default: 1, min: 0, help: "epochs before pruning starts (the paper: 5)" },
  mask_interval: { type: "int", default: 20, min: 1, help: "batches per mask update (paper: 100)" },
  batch_size: { type: "int", default: 128, min: 1, help: "batch size (the paper: 128)" },
  lr: { ...common.trainFlags.lr, help: "SGD learning rate (cosine-annealed)" },
  momentum: common.trainFlags.momentum,
  weight_decay: common.trainFlags.weight_decay,
  teacher_epochs: { type: "int", default: 3, min: 1, help: "epochs to train the teacher" },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs, masks frozen" },
  at_layers: { type: "strings", default: AT_LAYERS, help: "layers of the attention transfer" },
  resume: { type: "string", help: "a run dir: go on at its checkpoint (flags.json the defaults)" },
} satisfies core.FlagDefs;

/** The relu_taylor pipeline. */
export const reluTaylorPipeline: core.PipelineSpec<typeof reluTaylorFlags> = {
  name: "relu_taylor",
  description: "ReLUPruner: Taylor importance per ReLU, progressive removal to a ReLU budget, KD.",
  flags: reluTaylorFlags,
  plugins: [reluTaylor],
  partsFrom: shippedPlugins, // other methods' parts, by full name
  takes: { target: "activations", flags: common.partFlags({ callbacks: "--schedule" }) },
  async build(f, ctx, ready) {
    const alpha = common.kdAlpha(f), target = "activations";
    const pruning = { layer_norm: f.layer_norm, monotone: f.monotone_masks };
    const timing = { warmup: f.warmup, interval: f.mask_interval };
    const { scorer, pruner, schedule, regularizer: reg } = core.chooseParts(ctx.registry, f.opt, {
      scorer: { kind: "scorers", name: f.scorer, target, defaults: { depth_bias: f.depth_bias } },
      pruner: { kind: "pruners", name: f.pruner, target, defaults: pruning },
      schedule: { kind: "callbacks", name: f.schedule, defaults: timing },
      regularizer: f.finetune_epochs && f.regularizer !== "none"
        ? { kind: "regularizers", name: f.regularizer, defaults: { layers: f.at_layers } }
        : undefined,
    });
    const budget = f.target_relus ? { keep: f.target_relus } : { keepRatio: f.global_keep_ratio };
    const flag = f.target_relus ? "--target_relus" : "--global_keep_ratio";
    const ctl = core.control({ callback: schedule, scorer, pruner, budget, epochs: f.epochs });
    await ready();
    const data = await common.dataShape(f);
    const tune = { phase: "finetune", epochs: f.finetune_epochs }; // phase: its checkpoints' stage
    const runs = [{ phase: ctl.phase, epochs: f.epochs }, tune];
    const from = f.resume ? await common.resumed(f.resume, data, runs) : undefined;
    const [pruned, tuned] = from?.done ?? [0, 0];
    let student = from?.model ?? common.zooModel(f.model_s, data, { width: f.width, seed: f.seed });
    const masked = ctx.registry.transform("relu_taylor/masked_relu");
    if (!core.activationMaskLayers(student).length) {
      student = await common.transformed(student, masked);
    }
    const teacher = await common.teacherFor(f, data);
    core.checkBudget(flag, budget, core.reluElements(student), "ReLUs");
    const taps = reg?.part.features?.layers(reg.options) ?? { student: [], teacher: [] };
    core.checkLayers("--at_layers", student, taps.student, "the student");
    core.checkLayers("--at_layers", teacher, taps.teacher, "the teacher");
    const cosine = common.sgdRecipe(f, { kind: "cosine" });
    const kd = { gamma: f.gamma, temperature: f.temperature };
    const regularizers = reg ? [core.weighted(reg, 1000)] : [];
    const ft = { ...cosine, ...kd, ...tune, gamma: 0.5, alpha: 0.5, regularizers };
    const parts = `${scorer.name}, ${pruner.name}, ${schedule.name}`;
    return [
      core.load({ data: common.dataFrom(f, f.seed), model: () => student, teacher: () => teacher }),
      ...common.readyTeacher(f, { ...cosine, epochs: f.teacher_epochs }),
      core.evaluate({ name: "teacher", model: (ctx) => ctx.teacher }),
      core.recordReluTable("before", (t) => `${t.kept} ReLUs; ${parts}`),
      core.inheritWeights(() => f.init === "teacher" && !f.resume),
      ...ctl.train(alpha ? core.distill : core.finetune, { ...cosine, ...kd, alpha }, pruned),
      ...core.when(f.finetune_epochs, core.finetune(core.resumeAt(ft, tuned))),
      core.evaluate({ name: "student" }),
      core.recordReluTable("after"),
    ];
  },
  summarize(ctx) {
    const t = core.evaluation(ctx, "teacher").top1, s = core.evaluation(ctx, "student").top1;
    Object.assign(ctx.report, { teacher_accuracy: t, student_accuracy: s });
    const layers = ctx.report.relu_layers_after as core.LayerPruneRow[];
    const before = layers.reduce((n, r) => n + r.before, 0),
      after = ctx.report.relus_after as number;
    const c = core.churnAtBudget((ctx.report.mask_updates ?? []) as core.PruneUpdateRow[], after);
    const rows = layers.map((r) => [r.name, r.before, r.after]), pct = common.pct, n = c.atBudget;
    return [
      "",
      ...common.table(["layer", "ReLUs", "kept"], rows, true),
      "",
      `ReLUs            ${before} -> ${after} (${pct(after / before)} kept)`,
      `mask updates     ${c.updates}` +
      (n ? `; at the budget, ${pct(c.churn)} of the kept ReLUs change per update (${n})` : ""),
      `teacher top-1    ${pct(t)}`,
      `student top-1    ${pct(s)}`,
    ];
  },
};

if (import.meta.main) core.runMain(reluTaylorPipeline);
