/**
 * DWP magnitude pruning (the Network-Pruning seed): one global magnitude threshold over the Conv2D
 * kernels at each point of a p_prune sweep (each candidate pruned with probability p_bern), an
 * optional fine-tune, top-1 against the pruning ratio; or `--prune_type gradient` (dL/dinput only).
 * Target: weights. The steps, the default run and its figures: docs/methods.md.
 *
 * @example
 * ```sh
 * deno task run pipelines/magnitude.ts
 * deno task run pipelines/magnitude.ts --path runs/train_teacher/<t>/model --dataset fashion-mnist \
 *   --p_prune 0,0.3,0.5,0.7 --finetune_epochs 1
 * ```
 * @module
 */
import * as core from "@shears/core";
import magnitude from "@shears/magnitude";
import * as common from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

const model: common.ModelFlagDefs = common.modelFlags("resnet20", 0.25);
const P_PRUNE = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
const UNIT = { element: "magnitude/abs", kernel: "magnitude/kernel_l1" } as Record<string, string>;
const unit = { type: "number", min: 0, max: 1 } as const;
const TYPES = ["global", "gradient"];
const some = (v: unknown) => ((v as number[]).length ? undefined : "needs at least one value");

/** Flags of the magnitude pipeline (the seed's names where it has them). */
export const magnitudeFlags = {
  ...model,
  width: { ...model.width, help: "width multiplier (0.25: a ResNet-20 that trains on 2 cores)" },
  ...common.dataFlags,
  prune_type: { type: "string", default: "global", choices: TYPES, help: "weights or dL/dx only" },
  granularity: { type: "string", default: "element", choices: ["element", "kernel"], help: "unit" },
  scorer: { type: "string", help: "weights scorer (default: magnitude/abs, kernel_l1 by unit)" },
  pruner: { type: "string", help: "weights pruner (default: magnitude/<prune_type>)" },
  p_prune: { ...unit, type: "numbers", default: P_PRUNE, validate: some, help: "p_prune sweep" },
  p_bern: { ...unit, default: 1, help: "probability that a unit below the threshold is pruned" },
  include: { type: "strings", default: [], choices: ["dense"], help: "prune Dense kernels too" },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs at every point" },
  finetune_lr: { ...common.trainFlags.lr, default: 0.01, help: "fine-tuning SGD lr (momentum .9)" },
  pretrain_epochs: { ...common.trainFlags.pretrain_epochs, default: 2 },
  batch_size: common.trainFlags.batch_size,
} satisfies core.FlagDefs;

type Flags = Parameters<core.PipelineSpec<typeof magnitudeFlags>["build"]>[0];

/** One point of the sweep, as written to report.json. */
export interface SweepPoint {
  p_prune: number;
  p_bern: number;
  pruned_fraction: number;
  top1: number;
}

const label = (f: Flags) =>
  `${f.prune_type}, ${f.granularity}, p_bern ${f.p_bern}` +
  (f.finetune_epochs ? `, ${f.finetune_epochs} ep fine-tune` : "");

/** Gradient pruning thresholds single Conv2D weights: kernels and Dense layers are refused. */
function check(f: Flags): void {
  const refuse = (what: string, why: string) => {
    throw new core.UsageError(
      `${what} works with --prune_type global only; gradient pruning ${why}`,
    );
  };
  if (f.prune_type !== "gradient") return;
  if (f.granularity === "kernel") refuse("--granularity kernel", "thresholds single weights");
  if (f.include.length) refuse(`--include ${f.include.join(",")}`, "covers Conv2D");
}

/** The magnitude pipeline. */
export const magnitudePipeline: core.PipelineSpec<typeof magnitudeFlags> = {
  name: "magnitude",
  description: "DWP global magnitude pruning (p_prune sweep, p_bern) or gradient-only pruning.",
  flags: magnitudeFlags,
  plugins: [magnitude],
  partsFrom: shippedPlugins, // other methods' parts, by full name
  takes: { target: "weights", flags: common.partFlags() },
  async build(f, ctx, ready) {
    check(f);
    const target = "weights", [include, p_bern] = [f.include, f.p_bern];
    const names = [f.scorer ?? UNIT[f.granularity], f.pruner ?? `magnitude/${f.prune_type}`];
    const { scorer, pruner } = core.chooseParts(ctx.registry, f.opt, {
      scorer: { kind: "scorers", name: names[0], target, defaults: { include } },
      pruner: { kind: "pruners", name: names[1], target, defaults: { p_bern } },
    });
    // magnitude's pruners take p_prune; any other gets the budget 1 - p_prune
    const own = Object.hasOwn(pruner.part.options ?? {}, "p_prune");
    if (!own && f.p_prune.includes(1)) {
      throw new core.UsageError(
        `--p_prune 1 needs a pruner with a p_prune option; ${pruner.name} has none`,
      );
    }
    await ready();
    const m = await common.modelFrom(f)(await common.dataShape(f));
    const p = (ctx: core.RunContext) => f.p_prune[ctx.step.index];
    const pruned = (ctx: core.RunContext, { kept, total } = core.lastPruning(ctx)) =>
      1 - kept / Math.max(1, total);
    const sgd = { kind: "sgd", lr: f.finetune_lr, momentum: 0.9 } as const;
    const tune = { batchSize: f.batch_size, optimizer: sgd, seed: f.seed, evalEach: false };
    return [
      ...common.start(f, m, { epochs: f.pretrain_epochs, batchSize: f.batch_size }),
      core.evaluate({ name: "dense", batchSize: 256 }),
      core.sweep({
        points: f.p_prune.length,
        label: (ctx) => `p_prune ${p(ctx)}`,
        stages: [
          core.score({ scorer, key: "magnitude" }),
          core.mask({
            pruner,
            scores: "magnitude",
            budget: (ctx) => (own ? {} : { keepRatio: 1 - p(ctx) }),
            options: (ctx) => (own ? { p_prune: p(ctx) } : {}),
          }),
          ...core.when(f.finetune_epochs, core.finetune({ ...tune, epochs: f.finetune_epochs })),
          core.evaluate({ name: "pruned", batchSize: 256 }),
          core.record<SweepPoint>({
            key: "sweep",
            row: (ctx) => ({ p_prune: p(ctx), p_bern: f.p_bern, pruned_fraction: pruned(ctx) }),
            from: { evaluation: "pruned", fields: ["top1"] },
            metrics: ["pruned_fraction", "top1"],
            step: (_, ctx) => ctx.step.index,
          }),
        ],
      }),
      core.chart<SweepPoint>({
        rows: "sweep",
        title: (ctx) =>
          `${ctx.model!.name} on ${ctx.data!.name}: top-1 vs pruning ratio (dense ${
            common.pct(core.evaluation(ctx, "dense").top1)
          })`,
        xLabel: "pruned fraction of conv weights",
        lines: [{ name: label(f), x: (p) => p.pruned_fraction, y: (p) => p.top1 }],
      }),
      // a gradient-pruned model saves as standard Conv2D layers
      core.transform({
        name: "magnitude/plain_conv",
        when: () => pruner.name === "magnitude/gradient",
      }),
    ];
  },
  summarize(ctx, f) {
    const dense = ctx.report.top1_dense = core.evaluation(ctx, "dense").top1, pct = common.pct;
    const rows = core.reportRows<SweepPoint>(ctx, "sweep");
    const cells = rows.map((p) => [p.p_prune.toFixed(2), pct(p.pruned_fraction), pct(p.top1)]);
    return [
      `magnitude (${label(f)}): dense top-1 ${pct(dense)}`,
      ...common.table(["p_prune", "pruning ratio", "top-1"], cells),
      ...(f.prune_type === "gradient" && !f.finetune_epochs
        ? ["(gradient pruning leaves the forward pass as it was: top-1 is the dense one)"]
        : []),
    ];
  },
};

if (import.meta.main) core.runMain(magnitudePipeline);
