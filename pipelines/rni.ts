/**
 * Receding Neuron Importances (Suteu & Guo 2022) and its baselines, as the
 * reference's `train()` then `prune_finetune()` for each prune fraction:
 *
 * 1. train the model from scratch (skipped with --path): `rni` with
 *    SigmoidBatchNorm layers (the `rni/sigmoid_bn` transform) and the RNI
 *    regulariser, `l1` (network slimming) with BN gamma 0.5 and Σ|γ|, `ucs`
 *    with BN gamma 0.5 and no regulariser; SGD momentum 0.9 Nesterov, wd
 *    1e-4 (the regulariser's parameter groups: SigBN at 10x lr, no wd), lr
 *    x0.1 at 50% and 75% of the epochs, the best test epoch kept (as the
 *    reference does);
 * 2. plot the BN importances (sigmoid(θ) or |γ|; bimodal under RNI);
 * 3. per --prune_pc: prune that fraction of the prunable BN channels (global
 *    quantile for rni / l1, per layer for ucs, >= 3 per layer), remove them
 *    for real, evaluate, fine-tune with the same recipe (no regulariser) and
 *    evaluate again. The saved model is the last fraction's.
 *
 * Target: channels; `--method` picks the parts, `--scorer`, `--pruner` and
 * `--regularizer` (or `none`) replace them. Images are zero-padded by --pad
 * pixels per side inside the model (28 -> 32, the CIFAR size the VGGs need),
 * so saved models take the dataset's images. With no flags it trains a
 * VGG-11-BN of width 0.125 on the embedded mnist digits for a few epochs.
 *
 * @example
 * ```sh
 * deno task run pipelines/rni.ts
 * deno task run pipelines/rni.ts --dataset fashion-mnist --arch vgg11_bn --width 0.25 \
 *   --method l1 --epochs 20 --prune_pc 0.5,0.9 --finetune_epochs 5
 * ```
 * @module
 */
import {
  evaluate,
  type Evaluation,
  finetune,
  type FitSpec,
  type FlagDefs,
  load,
  mask,
  PartChooser,
  type PipelineSpec,
  type PruneRecord,
  record,
  runMain,
  score,
  scoreHistogram,
  sweep,
  tf,
  UsageError,
  weighted,
} from "@shears/core";
import rni from "@shears/rni";
import { modelNames as models } from "@shears/models";
import * as common from "./common.ts";

const fraction = { type: "numbers", min: 0, max: 1, maxExclusive: true } as const;

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
  reg_weight: {
    type: "number",
    min: 0,
    help: "its weight (default: rni 1e-3, l1 1e-4; ResNets /10)",
  },
  b: { type: "number", help: "RNI shift b in sigmoid(theta + b) (default 3; ResNets 0)" },
  epochs: { type: "int", default: 4, min: 1, help: "training epochs (reference: 160)" },
  lr: { ...common.trainFlags.lr, default: 0.1 },
  batch_size: common.trainFlags.batch_size,
  prune_pc: { ...fraction, default: [0.5, 0.9], help: "fractions of the channels to prune" },
  finetune_epochs: { type: "int", default: 2, min: 0, help: "after pruning (reference: 160)" },
  keep_best: { type: "boolean", default: true, help: "keep the best test epoch (the reference)" },
  augment: common.trainFlags.augment,
} satisfies FlagDefs;

/** One prune fraction's numbers, as report.json `results` holds them. */
export interface RniResult {
  method: string;
  prune_pc: number;
  trained_top1: number;
  pruned_top1: number;
  finetuned_top1: number | null;
  params: number;
  macs: number;
  channels_kept: number;
  channels_total: number;
}

const pct = common.pct;

/** The rni pipeline. */
export const rniPipeline: PipelineSpec<typeof rniFlags> = {
  name: "rni",
  description:
    "Receding Neuron Importances (and the l1 / ucs baselines): train, prune BN channels, fine-tune.",
  flags: rniFlags,
  plugins: [rni],
  takes: { target: "channels", flags: common.partFlags({ regularizers: "--regularizer" }) },
  async build(f, ctx, ready) {
    const resnet = /resnet/.test(f.arch), target = "channels";
    const parts = new PartChooser(ctx.registry, f.opt);
    const scorer = parts.choose("scorer", "scorers", f.scorer, { target });
    const quantile = f.method === "ucs" ? "rni/local_quantile" : "rni/global_quantile";
    const pruner = parts.choose("pruner", "pruners", f.pruner ?? quantile, { target });
    const regName = f.regularizer ?? { rni: "rni/rni", l1: "rni/l1", ucs: "none" }[f.method]!;
    const reg = regName === "none"
      ? undefined
      : parts.choose("regularizer", "regularizers", regName, {
        defaults: { b: f.b ?? (resnet ? 0 : 3) },
      });
    parts.done();
    await ready();
    const data = await common.dataShape(f);
    let m = f.path ? await common.savedModelFor(f.path, data, f.pad) : await common.paddedModelFrom(
      {
        model: f.arch,
        width: f.width,
        seed: f.seed,
        options: { bnGammaInit: f.method === "rni" ? 1 : 0.5 },
      },
      common.padBy(f.pad),
    )(data);
    const pinned = common.channelPreflight(m, f);
    if (!f.path && f.method === "rni") {
      m = await common.transformed(m, ctx.registry.transform("rni/sigmoid_bn"), {
        seed: f.seed + 1,
      });
    }
    try {
      if (reg?.part.loss) tf.tidy(() => void reg.part.loss!(m, reg.options));
    } catch (e) {
      throw new UsageError(
        `--regularizer ${reg!.name} does not fit this model: ${(e as Error).message}`,
      );
    }
    const weight = f.reg_weight ??
      (f.method === "rni" ? (resnet ? 1e-4 : 1e-3) : (resnet ? 1e-5 : 1e-4));
    const regs = reg ? [weighted(reg, weight)] : [];
    ctx.report.regularizer = reg ? `${reg.name} x ${weight}` : "none";
    const recipe = (epochs: number): FitSpec => ({
      epochs,
      batchSize: f.batch_size,
      optimizer: { kind: "sgd", lr: f.lr, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
      schedule: {
        kind: "multistep",
        milestones: [Math.floor(epochs * 0.5), Math.floor(epochs * 0.75)],
        gamma: 0.1,
      },
      augment: f.augment,
      seed: f.seed,
      keepBest: f.keep_best,
    });
    const pc = (i: number) => f.prune_pc[i];
    return [
      load({ data: common.dataFrom(f, f.seed), model: () => m }),
      ...pinned,
      ...(f.path ? [] : [finetune({ ...recipe(f.epochs), regularizers: regs })]),
      evaluate({ name: "trained" }),
      score({ scorer, key: "importance" }),
      scoreHistogram({
        scores: "importance",
        file: "bn_importance.svg",
        title: (_, n) => `${f.method}: BN importances of the prunable layers (${n} channels)`,
        xLabel: f.method === "rni" ? "sigmoid(theta)" : "|gamma|",
        report: "importances",
        below: [0.1],
        above: [0.9],
      }),
      sweep({
        points: f.prune_pc.length,
        stages: [
          score({ scorer, key: "importance" }),
          mask({
            pruner: pruner.name,
            scores: "importance",
            budget: (ctx) => ({ keepRatio: 1 - pc(ctx.step.index) }),
            options: pruner.options,
          }),
          evaluate({
            name: "pruned",
            log: (e, ctx) => {
              const p = (ctx.report.pruning as PruneRecord[]).at(-1)!;
              return `prune ${
                pc(ctx.step.index)
              }: kept ${p.kept}/${p.total} channels, ${e.params} params, ` +
                `${e.macs} MACs, top-1 ${pct(e.top1)} before fine-tuning`;
            },
          }),
          ...(f.finetune_epochs
            ? [
              finetune((ctx) => ({
                ...recipe(f.finetune_epochs),
                groups: reg?.part.paramGroups?.(ctx.model!, reg.options) ?? [],
              })),
              evaluate({ name: "finetuned" }),
            ]
            : []),
          record<RniResult>({
            key: "results",
            row: (ctx) => {
              const p = (ctx.report.pruning as PruneRecord[]).at(-1)!,
                e = ctx.report.pruned as Evaluation;
              return {
                method: f.method,
                prune_pc: pc(ctx.step.index),
                trained_top1: (ctx.report.trained as Evaluation).top1,
                pruned_top1: e.top1,
                finetuned_top1: f.finetune_epochs
                  ? (ctx.report.finetuned as Evaluation).top1
                  : null,
                params: e.params,
                macs: e.macs,
                channels_kept: p.kept,
                channels_total: p.total,
              };
            },
            metrics: (r) => ({
              ...(r.finetuned_top1 === null
                ? {}
                : { [`prune_${r.prune_pc}_finetuned_top1`]: r.finetuned_top1 }),
              [`prune_${r.prune_pc}_pruned_top1`]: r.pruned_top1,
            }),
          }),
        ],
      }),
    ];
  },
  summarize(ctx, f) {
    const results = ctx.report.results as RniResult[];
    const imp = ctx.report.importances as { count: number; below_0_1: number; above_0_9: number };
    return [
      `method ${f.method} (regulariser: ${ctx.report.regularizer}), ${f.arch} width ${f.width}, ${f.epochs} epochs`,
      `BN importances: ${imp.below_0_1} of ${imp.count} <= 0.1, ${imp.above_0_9} >= 0.9`,
      ...common.markdownTable(
        ["prune", "trained", "pruned", "fine-tuned", "params", "MACs"],
        results.map((r) => [
          r.prune_pc,
          pct(r.trained_top1),
          pct(r.pruned_top1),
          r.finetuned_top1 === null ? "-" : pct(r.finetuned_top1),
          r.params,
          r.macs,
        ]),
      ),
    ];
  },
};

if (import.meta.main) runMain(rniPipeline);
