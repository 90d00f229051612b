/**
 * Receding Neuron Importances (Suteu & Guo 2022) and its l1 / ucs baselines: train with the
 * method's regulariser (SigmoidBatchNorm for rni), plot the BN importances, then for each
 * --prune_pc remove that fraction of the BN channels, evaluate, fine-tune, evaluate. Target:
 * channels; `--method` picks the parts, `--scorer`, `--pruner` and `--regularizer` replace them.
 * The steps, the default run and its figures: docs/methods.md.
 *
 * @example
 * ```sh
 * deno task run pipelines/rni.ts
 * deno task run pipelines/rni.ts --dataset fashion-mnist --arch vgg11_bn --width 0.25 \
 *   --method l1 --epochs 20 --prune_pc 0.5,0.9 --finetune_epochs 5
 * ```
 * @module
 */
import * as core from "@shears/core";
import rni from "@shears/rni";
import { modelNames as models } from "@shears/models";
import * as common from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

/** Flags of the rni pipeline. */
export const rniFlags = {
  ...common.dataFlags,
  ...common.channelFlags,
  arch: { type: "string", default: "vgg11_bn", choices: models, help: "vgg16_bn, resnet56, ..." },
  width: { ...common.widthFlag, default: 0.125 },
  path: { type: "string", help: "a model trained by this pipeline: skip training" },
  pad: common.padFlag,
  method: { type: "string", default: "rni", choices: ["rni", "l1", "ucs"], help: "the parts" },
  scorer: { type: "string", default: "bn_scale", help: "channels scorer" },
  pruner: { type: "string", help: "channels pruner (default: rni/<global|local>_quantile)" },
  regularizer: { type: "string", help: "training regulariser or none (default by --method)" },
  reg_weight: { type: "number", min: 0, help: "weight (default: rni 1e-3, l1 1e-4; ResNets /10)" },
  b: { type: "number", help: "RNI shift b in sigmoid(theta + b) (default 3; ResNets 0)" },
  epochs: { type: "int", default: 4, min: 1, help: "training epochs (reference: 160)" },
  lr: { ...common.trainFlags.lr, default: 0.1 },
  batch_size: common.trainFlags.batch_size,
  prune_pc: { ...common.fractionsFlag, default: [0.5, 0.9], help: "of the channels" },
  finetune_epochs: { type: "int", default: 2, min: 0, help: "after pruning (reference: 160)" },
  keep_best: { type: "boolean", default: true, help: "keep the best test epoch (the reference)" },
  augment: common.trainFlags.augment,
} satisfies core.FlagDefs;

type Flags = Parameters<core.PipelineSpec<typeof rniFlags>["build"]>[0];

/** One prune fraction's numbers, as report.json `results` holds them ({@link resultOf}). */
export type RniResult = ReturnType<typeof resultOf>;

/** The sweep point's row, from its evaluations ("trained", "pruned", "finetuned") and mask. */
function resultOf(f: Flags, ctx: core.RunContext) {
  const { params, macs, top1 } = core.evaluation(ctx, "pruned"), p = core.lastPruning(ctx);
  return {
    method: f.method,
    prune_pc: f.prune_pc[ctx.step.index],
    trained_top1: core.evaluation(ctx, "trained").top1,
    pruned_top1: top1,
    finetuned_top1: f.finetune_epochs ? core.evaluation(ctx, "finetuned").top1 : null,
    params,
    macs,
    channels_kept: p.kept,
    channels_total: p.total,
  };
}

/** The rni pipeline. */
export const rniPipeline: core.PipelineSpec<typeof rniFlags> = {
  name: "rni",
  description:
    "Receding Neuron Importances (and the l1 / ucs baselines): train, prune BN channels, fine-tune.",
  flags: rniFlags,
  plugins: [rni],
  partsFrom: shippedPlugins, // other methods' parts, by full name
  takes: { target: "channels", flags: common.partFlags({ regularizers: "--regularizer" }) },
  async build(f, ctx, ready) {
    const resnet = /resnet/.test(f.arch), target = "channels", b = f.b ?? (resnet ? 0 : 3);
    const regName = f.regularizer ?? { rni: "rni/rni", l1: "rni/l1", ucs: "none" }[f.method]!;
    const none = regName === "none";
    const quantile = f.method === "ucs" ? "rni/local_quantile" : "rni/global_quantile";
    const { scorer, pruner, regularizer: reg } = core.chooseParts(ctx.registry, f.opt, {
      scorer: { kind: "scorers", name: f.scorer, target },
      pruner: { kind: "pruners", name: f.pruner ?? quantile, target },
      regularizer: none ? undefined : { kind: "regularizers", name: regName, defaults: { b } },
    });
    await ready();
    const data = await common.dataShape(f), bnGammaInit = f.method === "rni" ? 1 : 0.5;
    const zoo = { model: f.arch, width: f.width, seed: f.seed, options: { bnGammaInit } };
    const built = common.paddedModelFrom(zoo, common.padBy(f.pad));
    let m = f.path ? await common.savedModelFor(f.path, data, f.pad) : await built(data);
    const pinned = common.channelPreflight(m, f);
    const sigBN = ctx.registry.transform("rni/sigmoid_bn");
    if (!f.path && f.method === "rni") m = await common.transformed(m, sigBN, { seed: f.seed + 1 });
    if (reg) core.checkRegularizer("--regularizer", reg, m);
    const weight = f.reg_weight ?? (f.method === "rni" ? 1e-3 : 1e-4) / (resnet ? 10 : 1);
    const regs = reg ? [core.weighted(reg, weight)] : [];
    ctx.report.regularizer = reg ? `${reg.name} x ${weight}` : "none";
    const recipe = (epochs: number, more: Partial<core.FitSpec>): core.FitSpec => ({
      epochs,
      batchSize: f.batch_size,
      optimizer: { kind: "sgd", lr: f.lr, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
      schedule: core.multistepAt(epochs),
      augment: f.augment,
      seed: f.seed,
      keepBest: f.keep_best,
      ...more,
    });
    const groups = (ctx: core.RunContext) => reg?.part.paramGroups?.(ctx.model!, reg.options);
    const pc = (ctx: core.RunContext) => f.prune_pc[ctx.step.index];
    return [
      core.load({ data: common.dataFrom(f, f.seed), model: () => m }),
      ...pinned,
      ...core.when(!f.path, core.finetune(recipe(f.epochs, { regularizers: regs }))),
      core.evaluate({ name: "trained" }),
      core.score({ scorer, key: "importance" }),
      core.scoreHistogram({
        scores: "importance",
        file: "bn_importance.svg",
        title: (_, n) => `${f.method}: BN importances of the prunable layers (${n} channels)`,
        xLabel: f.method === "rni" ? "sigmoid(theta)" : "|gamma|",
        report: "importances",
        below: [0.1],
        above: [0.9],
      }),
      core.sweep({
        points: f.prune_pc.length,
        label: (ctx) => `prune ${pc(ctx)} of the channels`,
        stages: [
          core.score({ scorer, key: "importance" }),
          core.mask({
            pruner,
            scores: "importance",
            budget: (ctx) => ({ keepRatio: 1 - pc(ctx) }),
          }),
          core.evaluate({ name: "pruned" }),
          ...core.when(
            f.finetune_epochs,
            core.finetune((ctx) => recipe(f.finetune_epochs, { groups: groups(ctx) })),
            core.evaluate({ name: "finetuned" }),
          ),
          core.record<RniResult>({
            key: "results",
            row: (ctx) => resultOf(f, ctx),
            metrics: ({ prune_pc: p, pruned_top1, finetuned_top1: ft }) => ({
              ...(ft === null ? {} : { [`prune_${p}_finetuned_top1`]: ft }),
              [`prune_${p}_pruned_top1`]: pruned_top1,
            }),
          }),
        ],
      }),
    ];
  },
  summarize(ctx, f) {
    const imp = ctx.report.importances as core.ScoreSummary;
    const top1 = (v: number | null) => (v === null ? "-" : common.pct(v));
    return [
      `method ${f.method} (regulariser: ${ctx.report.regularizer}), ${f.arch} width ${f.width}, ${f.epochs} epochs`,
      `BN importances: ${imp.below_0_1} of ${imp.count} <= 0.1, ${imp.above_0_9} >= 0.9`,
      ...common.markdownTable(
        ["prune", "trained", "pruned", "fine-tuned", "params", "MACs"],
        core.reportRows<RniResult>(ctx, "results").map((r) => [
          r.prune_pc,
          ...[r.trained_top1, r.pruned_top1, r.finetuned_top1].map(top1),
          r.params,
          r.macs,
        ]),
      ),
    ];
  },
};

if (import.meta.main) core.runMain(rniPipeline);
