/**
 * Receding Neuron Importances (Suteu & Guo 2022) and its baselines, as the
 * reference's `train()` then `prune_finetune()` for each prune fraction:
 *
 * 1. train the model from scratch (skipped with --path): `rni` with
 *    SigmoidBatchNorm layers and the RNI regulariser, `l1` (network slimming)
 *    with BN gamma 0.5 and Σ|γ|, `ucs` with BN gamma 0.5 and no regulariser;
 *    SGD momentum 0.9 Nesterov, wd 1e-4 (SigBN: 10x lr, no wd), lr x0.1 at 50%
 *    and 75% of the epochs, the best test epoch kept (as the reference does);
 * 2. plot the BN importances (sigmoid(θ) or |γ|; bimodal under RNI);
 * 3. per --prune_pc: prune that fraction of the prunable BN channels (global
 *    quantile for rni / l1, per layer for ucs, >= 3 per layer), remove them
 *    for real, evaluate, fine-tune with the same recipe (no regulariser) and
 *    evaluate again.
 *
 * Images are zero-padded by --pad pixels on every side (28 -> 32 by default,
 * the CIFAR size the VGGs need). With no flags it trains a VGG-11-BN of width
 * 0.125 on the embedded mnist digits for a few epochs.
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
  accuracy,
  countMacs,
  countParams,
  type FlagDefs,
  histogramSVG,
  loadModel,
  type PipelineSpec,
  type RunContext,
  runMain,
  type Stage,
  stage,
  tf,
  train,
  type TrainConfig,
  UsageError,
  type WeightedRegularizer,
  writeFileAtomic,
} from "@shears/core";
import rni, {
  bnScaleScores,
  l1Regularizer,
  rniRegularizer,
  rniTrainConfig,
  sigmoidBatchNorms,
  toSigmoidBatchNorm,
} from "@shears/rni";
import { buildModel, modelNames } from "@shears/models";
import { dataFlags, dataFrom, paddedData, padFlag, trainFlags, widthFlag } from "./common.ts";

/** Flags of the rni pipeline. */
export const rniFlags = {
  ...dataFlags,
  arch: {
    type: "string",
    default: "vgg11_bn",
    choices: modelNames,
    help: "architecture from the model zoo (reference: vgg16_bn, resnet56); ignored with --path",
  },
  width: { ...widthFlag, default: 0.125 },
  path: {
    type: "string",
    help: "a model trained by this pipeline (model.json + weights.bin): skip training",
  },
  pad: padFlag,
  method: {
    type: "string",
    default: "rni",
    choices: ["rni", "l1", "ucs"],
    help: "rni (SigBN + RNI, global), l1 (network slimming, global), ucs (no reg., per layer)",
  },
  reg_weight: {
    type: "number",
    min: 0,
    help: "regulariser weight (default: the paper's, rni 1e-3 / l1 1e-4; ResNets 1e-4 / 1e-5)",
  },
  b: { type: "number", help: "RNI shift b in sigmoid(theta + b) (default 3; ResNets 0)" },
  epochs: { type: "int", default: 4, min: 1, help: "training epochs (reference: 160)" },
  lr: { ...trainFlags.lr, default: 0.1 },
  batch_size: trainFlags.batch_size,
  prune_pc: {
    type: "numbers",
    default: [0.5, 0.9],
    min: 0,
    max: 1,
    maxExclusive: true,
    help: "fractions of the prunable channels to prune (one run each)",
  },
  finetune_epochs: {
    type: "int",
    default: 2,
    min: 0,
    help: "fine-tuning epochs after pruning (reference: 160; 0 = none)",
  },
  keep_best: {
    type: "boolean",
    default: true,
    help: "keep the epoch with the best test top-1 (the reference does); --no-keep_best: the last",
  },
  augment: trainFlags.augment,
} satisfies FlagDefs;

type Flags = Parameters<PipelineSpec<typeof rniFlags>["build"]>[0];

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

const isResNet = (f: Flags) => /resnet/.test(f.arch);

/** The paper's regulariser weight and shift for the method and architecture. */
function regularizerOf(f: Flags): WeightedRegularizer[] {
  if (f.method === "ucs") return [];
  const weight = f.reg_weight ??
    (f.method === "rni" ? (isResNet(f) ? 1e-4 : 1e-3) : (isResNet(f) ? 1e-5 : 1e-4));
  if (f.method === "l1") return [{ name: "rni/l1", reg: l1Regularizer, weight }];
  const b = f.b ?? (isResNet(f) ? 0 : 3);
  return [{ name: "rni/rni", reg: rniRegularizer, weight, options: { b } }];
}

/** The model to start from: --path, or the zoo model dressed for the method. */
async function modelFor(f: Flags, ctx: RunContext): Promise<tf.LayersModel> {
  const data = ctx.data!;
  if (f.path) {
    const m = await loadModel(f.path);
    const inShape = (m.inputs[0].shape as number[]).slice(1);
    if (inShape.join() !== data.inputShape.join()) {
      throw new UsageError(
        `model ${f.path} takes [${inShape}], but the (padded) data is [${data.inputShape}]; check --pad`,
      );
    }
    if ((f.method === "rni") !== (sigmoidBatchNorms(m).length > 0)) {
      throw new UsageError(
        `--method ${f.method} needs a model ${f.method === "rni" ? "with" : "without"} ` +
          `SigmoidBatchNorm layers; ${f.path} ${f.method === "rni" ? "has none" : "has some"}`,
      );
    }
    return m;
  }
  const opts = {
    inputShape: data.inputShape,
    numClasses: data.numClasses,
    width: f.width,
    seed: f.seed,
    bnGammaInit: f.method === "rni" ? 1 : 0.5,
  };
  let base: tf.LayersModel;
  try {
    base = buildModel(f.arch, opts);
  } catch (e) {
    throw new UsageError(`--arch ${f.arch}: ${(e as Error).message}`);
  }
  if (f.method !== "rni") return base;
  const sig = toSigmoidBatchNorm(base, { seed: f.seed + 1 });
  base.dispose();
  return sig;
}

/** Trains ctx.model with the reference recipe; keeps the best test epoch when asked. */
function fit(f: Flags, name: string, epochs: number, regs: WeightedRegularizer[]): Stage {
  return stage(name, async (ctx, emit, cancel) => {
    if (epochs === 0) return;
    const model = ctx.model!;
    let best = -1, bestWeights: tf.Tensor[] | undefined;
    const cfg: TrainConfig = {
      epochs,
      batchSize: f.batch_size,
      ...rniTrainConfig(model, { epochs, lr: f.lr }),
      regularizers: regs,
      augment: f.augment,
      seed: f.seed,
      label: name,
      onEpochEnd: async (epoch, st) => {
        const top1 = (await accuracy(model, ctx.data!, { split: "test" })).top1;
        emit.metric("test_top1", top1, epoch + 1);
        emit.log(
          `${name} epoch ${epoch + 1}: loss ${st.loss.toFixed(4)}, train acc ${
            st.acc.toFixed(4)
          }, ` +
            `test top-1 ${top1.toFixed(4)}, lr ${st.lr.toPrecision(3)}, ${st.seconds.toFixed(1)} s`,
        );
        if (f.keep_best && top1 > best) {
          best = top1;
          tf.dispose(bestWeights);
          bestWeights = model.getWeights().map((w) => w.clone());
        }
      },
    };
    try {
      await train(ctx, cfg, emit, cancel);
      if (bestWeights) {
        model.setWeights(bestWeights);
        emit.log(`${name}: kept the best epoch (test top-1 ${best.toFixed(4)})`);
      }
    } finally {
      tf.dispose(bestWeights);
    }
  });
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

/** Records the trained model's accuracy and plots its BN importances. */
function inspect(f: Flags): Stage {
  return stage("importances", async (ctx, emit) => {
    const model = ctx.model!;
    const top1 = (await accuracy(model, ctx.data!, { split: "test" })).top1;
    const params = (await countParams(model)).total;
    ctx.report.trained = { top1, params, macs: countMacs(model) };
    emit.metric("trained_top1", top1);
    emit.log(`trained: top-1 ${pct(top1)}`);
    const scores = bnScaleScores(model);
    const values = (await Promise.all([...scores.values.values()].map((t) => t.data())))
      .flatMap((d) => Array.from(d));
    scores.values.forEach((t) => t.dispose());
    const near = (lo: number, hi: number) => values.filter((v) => v >= lo && v <= hi).length;
    ctx.report.importances = {
      count: values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      below_0_1: near(-Infinity, 0.1),
      above_0_9: near(0.9, Infinity),
    };
    if (ctx.runDir) {
      const path = `${ctx.runDir}/bn_importance.svg`;
      const what = f.method === "rni" ? "sigmoid(theta)" : "|gamma|";
      await writeFileAtomic(
        path,
        await histogramSVG({
          title: `${f.method}: BN importances of the prunable layers (${values.length} channels)`,
          xLabel: what,
          values,
          bins: 40,
        }),
      );
      emit.artifact("plot", path);
    }
  });
}

/** Prunes the trained model by `pc`, evaluates, fine-tunes, evaluates; restores the trained model. */
function pruneFinetune(f: Flags, pc: number, last: boolean): Stage[] {
  const key = `prune_${pc}`;
  let trained: tf.LayersModel | undefined;
  const row: Partial<RniResult> = {};
  return [
    stage(`${key}`, async (ctx, emit) => {
      trained = ctx.model!;
      const scores = bnScaleScores(trained);
      const pruner = ctx.registry.pruner(
        f.method === "ucs" ? "rni/local_quantile" : "rni/global_quantile",
      );
      try {
        const res = await pruner.prune(ctx, scores, { keepRatio: 1 - pc }, {});
        Object.assign(row, { channels_kept: res.kept, channels_total: res.total });
      } finally {
        scores.values.forEach((t) => t.dispose());
      }
      const m = ctx.model!;
      row.pruned_top1 = (await accuracy(m, ctx.data!, { split: "test" })).top1;
      row.params = (await countParams(m)).total;
      row.macs = countMacs(m);
      emit.metric(`${key}_pruned_top1`, row.pruned_top1);
      emit.log(
        `prune ${pc}: kept ${row.channels_kept}/${row.channels_total} channels, ` +
          `${row.params} params, ${row.macs} MACs, top-1 ${
            pct(row.pruned_top1)
          } before fine-tuning`,
      );
    }),
    fit(f, `finetune_${pc}`, f.finetune_epochs, []),
    stage(`${key}_done`, async (ctx, emit) => {
      const m = ctx.model!;
      row.finetuned_top1 = f.finetune_epochs > 0
        ? (await accuracy(m, ctx.data!, { split: "test" })).top1
        : null;
      if (row.finetuned_top1 !== null) emit.metric(`${key}_finetuned_top1`, row.finetuned_top1);
      const t = ctx.report.trained as { top1: number };
      const results = (ctx.report.results ??= []) as RniResult[];
      results.push({
        method: f.method,
        prune_pc: pc,
        trained_top1: t.top1,
        pruned_top1: row.pruned_top1!,
        finetuned_top1: row.finetuned_top1,
        params: row.params!,
        macs: row.macs!,
        channels_kept: row.channels_kept!,
        channels_total: row.channels_total!,
      });
      // keep the last pruned model as the run's model; free the others
      if (last) {
        ctx.state.set("rni/trained", trained);
      } else {
        m.dispose();
        ctx.model = trained;
      }
      return Promise.resolve();
    }),
  ];
}

/** The rni pipeline. */
export const rniPipeline: PipelineSpec<typeof rniFlags> = {
  name: "rni",
  description:
    "Receding Neuron Importances (and the l1 / ucs baselines): train, prune BN channels, fine-tune.",
  flags: rniFlags,
  plugins: [rni],
  build(f) {
    return [
      stage("load", async (ctx, emit) => {
        ctx.data = paddedData(await dataFrom(f, f.seed)(), f.pad);
        ctx.model = await modelFor(f, ctx);
        emit.log(
          `data: ${ctx.data.name} (${ctx.data.size("train")} train, ${
            ctx.data.size("test")
          } test, ` +
            `${ctx.data.inputShape.join("x")}); model: ${ctx.model.name}, ` +
            `${(await countParams(ctx.model)).total} params, method ${f.method}`,
        );
      }),
      ...(f.path ? [] : [fit(f, "train", f.epochs, regularizerOf(f))]),
      inspect(f),
      ...f.prune_pc.flatMap((pc, i) => pruneFinetune(f, pc, i === f.prune_pc.length - 1)),
    ];
  },
  summarize(ctx, f) {
    (ctx.state.get("rni/trained") as tf.LayersModel | undefined)?.dispose();
    const results = ctx.report.results as RniResult[];
    const imp = ctx.report.importances as { count: number; below_0_1: number; above_0_9: number };
    const regs = regularizerOf(f).map((r) => `${r.name} x ${r.weight}`).join(", ") || "none";
    return [
      `method ${f.method} (regulariser: ${regs}), ${f.arch} width ${f.width}, ${f.epochs} epochs`,
      `BN importances: ${imp.below_0_1} of ${imp.count} <= 0.1, ${imp.above_0_9} >= 0.9`,
      "| prune | trained | pruned | fine-tuned | params | MACs |",
      "|---|---|---|---|---|---|",
      ...results.map((r) =>
        `| ${r.prune_pc} | ${pct(r.trained_top1)} | ${pct(r.pruned_top1)} | ` +
        `${r.finetuned_top1 === null ? "-" : pct(r.finetuned_top1)} | ${r.params} | ${r.macs} |`
      ),
    ];
  },
};

if (import.meta.main) runMain(rniPipeline);
