/**
 * DWP magnitude pruning (the Network-Pruning seed): prune a trained model's
 * Conv2D kernels with one global magnitude threshold at each point of a
 * p_prune sweep (each candidate pruned with probability p_bern), optionally
 * fine-tune, and report top-1 against the pruning ratio. `--prune_type
 * gradient` prunes only dL/dinput (the forward pass and dL/dW stay full), so
 * it changes accuracy only through fine-tuning. Target: weights; any weights
 * scorer (`--scorer`, e.g. a `--plugin`'s) and pruner (`--pruner`) fit.
 *
 * With no flags: trains a ResNet-20 (width 0.25) on the embedded MNIST
 * digits for 2 epochs, then sweeps p_prune 0, 0.1, ..., 0.7 (global,
 * single weights, p_bern 1, no fine-tuning, as the seed's table).
 *
 * Each point starts from the trained weights; report.json gets
 * `sweep: [{p_prune, p_bern, pruned_fraction, top1}]` (pruned_fraction over
 * the pruned kernels: actual for global, expected per backward for
 * gradient), the per-layer rows under `pruning`, and `sweep.svg` plots
 * top-1 against the pruned fraction. The saved model is the last point's.
 *
 * @example
 * ```sh
 * deno task run pipelines/magnitude.ts
 * deno task run pipelines/magnitude.ts --path runs/train_teacher/<t>/model --dataset fashion-mnist \
 *   --p_prune 0,0.3,0.5,0.7 --finetune_epochs 1
 * ```
 * @module
 */
import {
  evaluate,
  type Evaluation,
  finetune,
  type FlagDefs,
  lineChartSVG,
  load,
  mask,
  PartChooser,
  type PipelineSpec,
  plot,
  type PruneRecord,
  type RunContext,
  runMain,
  score,
  stage,
  sweep,
  transform,
  UsageError,
} from "@shears/core";
import magnitude from "@shears/magnitude";
import {
  dataFlags,
  dataFrom,
  dataShape,
  type ModelFlagDefs,
  modelFlags,
  modelFrom,
  pretrain,
  trainFlags,
} from "./common.ts";

const model: ModelFlagDefs = modelFlags("resnet20", 0.25);

/** Flags of the magnitude pipeline (the seed's names where it has them). */
export const magnitudeFlags = {
  ...model,
  width: {
    ...model.width,
    help: "channel width multiplier (0.25: a ResNet-20 that trains on 2 cores)",
  },
  ...dataFlags,
  prune_type: {
    type: "string",
    default: "global",
    choices: ["global", "gradient"],
    help: "global: zero the weights; gradient: prune only dL/dinput (forward and dL/dW full)",
  },
  granularity: {
    type: "string",
    default: "element",
    choices: ["element", "kernel"],
    help: "element: single weights (the seed's README); kernel: whole kh×kw kernels (its code)",
  },
  scorer: {
    type: "string",
    help: "weights scorer (default by --granularity: magnitude/abs or kernel_l1)",
  },
  pruner: {
    type: "string",
    help: "weights pruner (default by --prune_type: magnitude/global or gradient)",
  },
  p_prune: {
    type: "numbers",
    default: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    min: 0,
    max: 1,
    help: "fraction of units below the threshold: one value, or a comma list for a sweep",
  },
  p_bern: {
    type: "number",
    default: 1,
    min: 0,
    max: 1,
    help: "probability that each unit below the threshold is pruned",
  },
  include: {
    type: "strings",
    default: [],
    choices: ["dense"],
    help: "also prune these layer kinds besides Conv2D (global only)",
  },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs at every point" },
  finetune_lr: {
    ...trainFlags.lr,
    default: 0.01,
    help: "fine-tuning SGD learning rate (momentum 0.9)",
  },
  pretrain_epochs: { ...trainFlags.pretrain_epochs, default: 2 },
  batch_size: trainFlags.batch_size,
} satisfies FlagDefs;

type Flags = Parameters<PipelineSpec<typeof magnitudeFlags>["build"]>[0];

/** One point of the sweep, as written to report.json. */
export interface SweepPoint {
  p_prune: number;
  p_bern: number;
  pruned_fraction: number;
  top1: number;
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const sweepOf = (ctx: RunContext) => (ctx.report.sweep ??= []) as SweepPoint[];

function check(f: Flags): void {
  if (f.prune_type === "gradient" && f.granularity === "kernel") {
    throw new UsageError(
      "--granularity kernel works with --prune_type global only; gradient pruning thresholds single weights",
    );
  }
  if (f.prune_type === "gradient" && f.include.length) {
    throw new UsageError(
      `--include ${
        f.include.join(",")
      } works with --prune_type global only; gradient pruning covers Conv2D`,
    );
  }
  if (!f.p_prune.length) throw new UsageError("--p_prune needs at least one value in [0, 1]");
}

/** The magnitude pipeline. */
export const magnitudePipeline: PipelineSpec<typeof magnitudeFlags> = {
  name: "magnitude",
  description: "DWP global magnitude pruning (p_prune sweep, p_bern) or gradient-only pruning.",
  flags: magnitudeFlags,
  plugins: [magnitude],
  takes: { target: "weights", flags: { scorers: "--scorer", pruners: "--pruner" } },
  async build(f, ctx, ready) {
    check(f);
    const parts = new PartChooser(ctx.registry, f.opt);
    const scorer = parts.choose("scorer", {
      flag: "--scorer",
      kind: "scorers",
      name: f.scorer ?? (f.granularity === "kernel" ? "magnitude/kernel_l1" : "magnitude/abs"),
      target: "weights",
      defaults: { include: f.include },
    });
    const pruner = parts.choose("pruner", {
      flag: "--pruner",
      kind: "pruners",
      name: f.pruner ?? `magnitude/${f.prune_type}`,
      target: "weights",
      defaults: { p_bern: f.p_bern },
    });
    parts.done();
    await ready();
    const own = Object.hasOwn(pruner.part.options ?? {}, "p_prune");
    if (!own && f.p_prune.includes(1)) {
      throw new UsageError(
        `--p_prune 1 needs a pruner with a p_prune option; ${pruner.name} has none`,
      );
    }
    const m = await modelFrom(f)(await dataShape(f));
    const p = (ctx: RunContext) => f.p_prune[ctx.step.index];
    return [
      load({ data: dataFrom(f, f.seed), model: () => m }),
      pretrain("model", () => !f.path, {
        epochs: f.pretrain_epochs,
        batchSize: f.batch_size,
        seed: f.seed,
      }),
      evaluate({ name: "dense", batchSize: 256 }),
      sweep({
        points: f.p_prune.length,
        stages: [
          score({ scorer: scorer.name, options: scorer.options, key: "magnitude" }),
          mask({
            pruner: pruner.name,
            scores: "magnitude",
            budget: (ctx) => (own ? {} : { keepRatio: 1 - p(ctx) }),
            options: (ctx) => ({ ...pruner.options, ...(own ? { p_prune: p(ctx) } : {}) }),
          }),
          ...(f.finetune_epochs
            ? [finetune({
              epochs: f.finetune_epochs,
              batchSize: f.batch_size,
              optimizer: { kind: "sgd", lr: f.finetune_lr, momentum: 0.9 },
              seed: f.seed,
              evalEach: false,
            })]
            : []),
          evaluate({ name: "pruned", batchSize: 256 }),
          stage("record", (ctx, emit) => {
            const last = (ctx.report.pruning as PruneRecord[]).at(-1)!;
            const point: SweepPoint = {
              p_prune: p(ctx),
              p_bern: f.p_bern,
              pruned_fraction: 1 - last.kept / Math.max(1, last.total),
              top1: (ctx.report.pruned as Evaluation).top1,
            };
            sweepOf(ctx).push(point);
            emit.metric("pruned_fraction", point.pruned_fraction, ctx.step.index);
            emit.metric("top1", point.top1, ctx.step.index);
          }),
        ],
      }),
      plot({
        file: "sweep.svg",
        svg: (ctx) =>
          lineChartSVG({
            title: `${ctx.model!.name} on ${ctx.data!.name}: top-1 vs pruning ratio (dense ${
              pct((ctx.report.dense as Evaluation).top1)
            })`,
            xLabel: "pruned fraction of conv weights",
            yLabel: "top-1",
            series: [{
              name: `${f.prune_type}, ${f.granularity}, p_bern ${f.p_bern}` +
                (f.finetune_epochs ? `, ${f.finetune_epochs} ep fine-tune` : ""),
              points: sweepOf(ctx).map((p) => [p.pruned_fraction, p.top1]),
            }],
          }),
      }),
      // a gradient-pruned model saves as standard Conv2D layers
      transform({ name: "magnitude/plain_conv", when: () => pruner.name === "magnitude/gradient" }),
    ];
  },
  summarize(ctx, f) {
    const sweep = sweepOf(ctx), dense = (ctx.report.dense as Evaluation).top1;
    ctx.report.top1_dense = dense;
    const lines = [
      `magnitude (${f.prune_type}, ${f.granularity}, p_bern ${f.p_bern}, ` +
      `${f.finetune_epochs} fine-tune epochs): dense top-1 ${pct(dense)}`,
      "p_prune  pruning ratio  top-1",
      ...sweep.map((p) =>
        `${p.p_prune.toFixed(2).padStart(7)}  ${pct(p.pruned_fraction).padStart(13)}  ${
          pct(p.top1).padStart(6)
        }`
      ),
    ];
    if (f.prune_type === "gradient" && !f.finetune_epochs) {
      lines.push(
        "(gradient pruning leaves the forward pass as it was: without fine-tuning top-1 is the dense one)",
      );
    }
    return lines;
  },
};

if (import.meta.main) runMain(magnitudePipeline);
