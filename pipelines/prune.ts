/**
 * Prune my model: any saved tfjs LayersModel (`--path`) or zoo model, on any
 * dataset, with any scorer and pruner by registry name (the five methods'
 * parts and `--plugin` ones), to a budget: `--keep_ratio` of the target's
 * units (weights, channels or ReLU elements: the scorer's target), or for
 * channels `--target_macs` / `--speed_up` (remove `--step` of the channels
 * per iteration until the MACs are that low). Optionally in `--iterations`
 * steps, each followed by `--finetune_epochs` of fine-tuning, distilled from
 * the unpruned model with `--distill kd`. `--transform` rewrites the model
 * first (e.g. `relu_taylor/masked_relu` makes its ReLUs prunable). Writes
 * the usual report (before / after: top-1, params, MACs, ReLUs, bytes,
 * deployed latency; a row per iteration), iterations.svg and the model.
 *
 * @example
 * ```sh
 * deno task run pipelines/prune.ts --scorer magnitude/abs --keep_ratio 0.3
 * deno task run pipelines/prune.ts --path my/model --dataset cifar10 --data_dir ~/cifar \
 *   --scorer filter_taylor/l1 --speed_up 2 --finetune_epochs 1 --distill kd
 * ```
 * @module
 */
import {
  activationMaskLayers,
  compareDeployed,
  distill,
  evaluate,
  type Evaluation,
  finetune,
  type FlagDefs,
  iterate,
  lineChartSVG,
  load,
  mask,
  PartChooser,
  type PipelineSpec,
  plot,
  prunableGroups,
  type PruneRecord,
  type RunContext,
  runMain,
  score,
  stage,
  teacherFromModel,
  UsageError,
} from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import magnitude from "@shears/magnitude";
import filterTaylor from "@shears/filter_taylor";
import rni from "@shears/rni";
import intraFusion from "@shears/intra_fusion";
import * as common from "./common.ts";

const model: common.ModelFlagDefs = common.modelFlags("lenet5");
const PRUNERS = {
  weights: "magnitude/global",
  channels: "filter_taylor/global_lowest",
  activations: "relu_taylor/global_topk",
};

/** Flags of prune.ts. */
export const pruneFlags = {
  ...model,
  ...common.dataFlags,
  scorer: {
    type: "string",
    default: "magnitude/abs",
    help: "scorer (its target is what is pruned)",
  },
  pruner: {
    type: "string",
    help:
      "pruner of the scorer's target (default: magnitude/global, filter_taylor/global_lowest, relu_taylor/global_topk)",
  },
  transform: {
    type: "strings",
    default: [],
    help: "transforms applied to the model first, in order",
  },
  keep_ratio: {
    type: "number",
    default: 0.5,
    min: 0,
    max: 1,
    minExclusive: true,
    help: "fraction of the units to keep",
  },
  target_macs: {
    type: "int",
    min: 1,
    help: "channels: prune until the model has at most this many MACs",
  },
  speed_up: {
    type: "number",
    min: 1,
    minExclusive: true,
    help: "channels: prune until MACs fall by this factor",
  },
  step: {
    type: "number",
    default: 0.05,
    min: 0,
    max: 1,
    minExclusive: true,
    maxExclusive: true,
    help: "channels removed per iteration with --target_macs / --speed_up",
  },
  groups: {
    type: "string",
    default: "all",
    choices: ["all", "conv", "scored"],
    help: "channel groups to prune: all, conv filters, or those the scorer scores",
  },
  iterations: {
    type: "int",
    default: 1,
    min: 1,
    help: "pruning steps to reach --keep_ratio (at most, for a MAC target: 100 if 1)",
  },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs after each step" },
  ...common.distillFlags,
  distill: {
    ...common.distillFlags.distill,
    default: "none",
    help: "distil from the unpruned model while fine-tuning",
  },
  lr: {
    ...common.trainFlags.lr,
    default: 0.01,
    help: "fine-tuning SGD learning rate (momentum 0.9)",
  },
  batch_size: common.trainFlags.batch_size,
  pretrain_epochs: common.trainFlags.pretrain_epochs,
  latency_batch: {
    type: "int",
    default: 32,
    min: 1,
    help: "batch size of the deployed latency measurement",
  },
} satisfies FlagDefs;

/** One pruning step, as report.json `iterations` holds it. */
export interface PruneStepRow {
  iteration: number;
  kept: number;
  total: number;
  top1: number;
  params: number;
  nonzero_params: number;
  macs: number;
  relus_active: number;
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const rowsOf = (ctx: RunContext) => (ctx.report.iterations ??= []) as PruneStepRow[];

/** The prune pipeline. */
export const prunePipeline: PipelineSpec<typeof pruneFlags> = {
  name: "prune",
  description: "Prune any model with any scorer and pruner to a budget; fine-tune, distil, report.",
  flags: pruneFlags,
  plugins: [reluTaylor, magnitude, filterTaylor, rni, intraFusion],
  takes: {
    target: "any",
    flags: { scorers: "--scorer", pruners: "--pruner", transforms: "--transform" },
  },
  async build(f, ctx, ready) {
    const alpha = common.kdAlpha(f);
    const parts = new PartChooser(ctx.registry, f.opt);
    const scorer = parts.choose("scorer", { flag: "--scorer", kind: "scorers", name: f.scorer });
    const target = scorer.part.target;
    const pruner = parts.choose("pruner", {
      flag: "--pruner",
      kind: "pruners",
      name: f.pruner ?? PRUNERS[target],
      target,
    });
    const transforms = f.transform.map((name, i) =>
      parts.choose(`transform${i}`, { flag: "--transform", kind: "transforms", name })
    );
    parts.done();
    await ready();
    const macTarget = f.target_macs !== undefined || f.speed_up !== undefined;
    if (macTarget && target !== "channels") {
      throw new UsageError(
        `--target_macs and --speed_up prune channels; ${scorer.name} scores ${target}`,
      );
    }
    if (f.target_macs !== undefined && f.speed_up !== undefined) {
      throw new UsageError("--target_macs and --speed_up are alternatives; pass one");
    }
    let m = await common.modelFrom(f)(await common.dataShape(f));
    for (const t of transforms) {
      const next = await t.part.apply(m, t.options);
      if (next !== m) m.dispose();
      m = next;
    }
    if (target === "activations" && !activationMaskLayers(m).length) {
      throw new UsageError(
        `${scorer.name} scores activations, but the model has no MaskedReLU layers; add --transform relu_taylor/masked_relu`,
      );
    }
    if (
      target === "channels" && f.groups !== "scored" &&
      !prunableGroups(m, f.groups as "all" | "conv").length
    ) {
      throw new UsageError(
        `the model has no prunable ${f.groups === "conv" ? "conv " : ""}channel groups`,
      );
    }
    const steps = macTarget && f.iterations === 1 ? 100 : f.iterations;
    const base = (ctx: RunContext) => (ctx.report.before as Evaluation).macs;
    const macsGoal = (ctx: RunContext) => f.target_macs ?? base(ctx) / f.speed_up!;
    // masks are rebuilt over all units (ratio of the whole); a structural cut is of what is left
    const budget = (ctx: RunContext) =>
      macTarget ? { keepRatio: 1 - f.step } : {
        keepRatio: f.keep_ratio **
          (target === "channels" ? 1 / steps : (ctx.step.index + 1) / steps),
      };
    const done = (ctx: RunContext, i: number) => {
      if (!macTarget) return i + 1 >= steps;
      const rows = rowsOf(ctx), last = rows.at(-1)!;
      return i + 1 >= steps || last.macs <= macsGoal(ctx) || last.kept === last.total;
    };
    return [
      load({ data: common.dataFrom(f, f.seed), model: () => m }),
      common.pretrain("model", () => !f.path, {
        epochs: f.pretrain_epochs,
        batchSize: f.batch_size,
        seed: f.seed,
      }),
      teacherFromModel(() => alpha > 0),
      evaluate({
        name: "before",
        bytes: true,
        latency: "deployed",
        latencyBatch: f.latency_batch,
        keepDeployed: () => "base",
      }),
      iterate({
        name: "prune steps",
        until: done,
        total: () => steps,
        stages: [
          score({
            scorer: scorer.name,
            options: scorer.options,
            batchSize: f.batch_size,
            groups: target === "channels" && f.groups !== "scored"
              ? (ctx) => prunableGroups(ctx.model!, f.groups as "all" | "conv").map((g) => g.id)
              : undefined,
          }),
          mask({ pruner: pruner.name, scores: scorer.name, budget, options: pruner.options }),
          ...(f.finetune_epochs
            ? [(alpha ? distill : finetune)({
              epochs: f.finetune_epochs,
              batchSize: f.batch_size,
              optimizer: { kind: "sgd", lr: f.lr, momentum: 0.9 },
              alpha,
              gamma: alpha ? f.gamma : 1,
              temperature: f.temperature,
              seed: f.seed,
            })]
            : []),
          evaluate({ name: "step" }),
          stage("record", (ctx, emit) => {
            const p = (ctx.report.pruning as PruneRecord[]).at(-1)!,
              e = ctx.report.step as Evaluation;
            const row: PruneStepRow = {
              iteration: ctx.step.index + 1,
              kept: p.kept,
              total: p.total,
              top1: e.top1,
              params: e.params,
              nonzero_params: e.nonzero_params,
              macs: e.macs,
              relus_active: e.relus_active,
            };
            rowsOf(ctx).push(row);
            emit.log(
              `step ${row.iteration}: kept ${row.kept} of ${row.total} ${target}, top-1 ${
                pct(row.top1)
              }, ${row.macs} MACs`,
            );
          }),
        ],
      }),
      evaluate({ name: "after", bytes: true, latency: "deployed", latencyBatch: f.latency_batch }),
      compareDeployed({ base: "base", batchSize: f.latency_batch }),
      plot({
        file: "iterations.svg",
        svg: (ctx) =>
          lineChartSVG({
            title: `${ctx.model!.name} on ${ctx.data!.name}: ${scorer.name} + ${pruner.name}`,
            xLabel: `${target} kept (share)`,
            yLabel: "top-1",
            series: [{
              name: f.finetune_epochs
                ? `after ${f.finetune_epochs} fine-tune epochs`
                : "no fine-tuning",
              points: [
                [1, (ctx.report.before as Evaluation).top1],
                ...rowsOf(ctx).map((r) => [r.kept / r.total, r.top1] as [number, number]),
              ],
            }],
          }),
      }),
    ];
  },
  summarize(ctx, f) {
    const b = ctx.report.before as Evaluation, a = ctx.report.after as Evaluation;
    const rows = rowsOf(ctx), last = rows.at(-1)!;
    const side = ctx.report.speed_up as { speed_up: number } | undefined;
    Object.assign(ctx.report, {
      top1_before: b.top1,
      top1_after: a.top1,
      kept: last.kept,
      total: last.total,
    });
    const line = (k: keyof Evaluation) =>
      `${k.padEnd(15)} ${String(b[k]).padStart(12)} ${String(a[k]).padStart(12)}`;
    return [
      `${f.scorer} + ${
        ctx.report.pruning ? (ctx.report.pruning as PruneRecord[])[0].pruner : ""
      }: kept ${last.kept} of ${last.total}`,
      `${"".padEnd(15)} ${"before".padStart(12)} ${"after".padStart(12)}`,
      `${"top-1".padEnd(15)} ${pct(b.top1).padStart(12)} ${pct(a.top1).padStart(12)}`,
      ...(["params", "nonzero_params", "macs", "relus_active", "bytes"] as const).map(line),
      `deployed latency ${b.latency_ms!.toFixed(2)} -> ${a.latency_ms!.toFixed(2)} ms` +
      (side ? ` (x${side.speed_up.toFixed(2)} side by side)` : ""),
    ];
  },
};

if (import.meta.main) runMain(prunePipeline);
