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
  chart,
  compareDeployed,
  distill,
  evaluate,
  type Evaluation,
  finetune,
  type FlagDefs,
  iterate,
  mask,
  PartChooser,
  type PipelineSpec,
  prunableGroups,
  type PruneRecord,
  record,
  reportRows,
  type RunContext,
  runMain,
  score,
  type SpeedUp,
  teacherFromModel,
  untilBudget,
  UsageError,
} from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import magnitude from "@shears/magnitude";
import filterTaylor from "@shears/filter_taylor";
import rni from "@shears/rni";
import intraFusion from "@shears/intra_fusion";
import * as common from "./common.ts";

const PRUNERS = {
  weights: "magnitude/global",
  channels: "filter_taylor/global_lowest",
  activations: "relu_taylor/global_topk",
};

const model: common.ModelFlagDefs = common.modelFlags("lenet5");

/** Flags of prune.ts. */
export const pruneFlags = {
  ...model,
  ...common.dataFlags,
  ...common.channelFlags,
  scorer: { type: "string", default: "magnitude/abs", help: "scorer; its target is pruned" },
  pruner: {
    type: "string",
    help: "pruner (default: magnitude/global, filter_taylor/global_lowest, ...)",
  },
  transform: { type: "strings", default: [], help: "transforms applied to the model first" },
  keep_ratio: { ...common.ratioFlag, default: 0.5, help: "fraction of the units to keep" },
  target_macs: { type: "int", min: 1, help: "channels: prune to at most this many MACs" },
  speed_up: {
    type: "number",
    min: 1,
    minExclusive: true,
    help: "channels: prune MACs by this factor",
  },
  step: {
    ...common.ratioFlag,
    default: 0.05,
    maxExclusive: true,
    help: "channels cut per step (MACs)",
  },
  groups: {
    type: "string",
    default: "all",
    choices: ["all", "conv", "scored"],
    help: "channel groups",
  },
  iterations: {
    type: "int",
    default: 1,
    min: 1,
    help: "steps to the budget (MAC targets: at most)",
  },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs after each step" },
  ...common.distillFlags,
  distill: {
    ...common.distillFlags.distill,
    default: "none",
    help: "distil from the unpruned model",
  },
  lr: { ...common.trainFlags.lr, default: 0.01, help: "fine-tuning SGD lr (momentum 0.9)" },
  batch_size: common.trainFlags.batch_size,
  pretrain_epochs: common.trainFlags.pretrain_epochs,
  latency_batch: { type: "int", default: 32, min: 1, help: "batch of the deployed latency" },
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

const rowsOf = (ctx: RunContext) => reportRows<PruneStepRow>(ctx, "iterations");

/** The prune pipeline. */
export const prunePipeline: PipelineSpec<typeof pruneFlags> = {
  name: "prune",
  description: "Prune any model with any scorer and pruner to a budget; fine-tune, distil, report.",
  flags: pruneFlags,
  plugins: [reluTaylor, magnitude, filterTaylor, rni, intraFusion],
  takes: { target: "any", flags: common.partFlags({ transforms: "--transform" }) },
  async build(f, ctx, ready) {
    const alpha = f.distill === "none" ? 0 : common.kdAlpha(f);
    const parts = new PartChooser(ctx.registry, f.opt);
    const scorer = parts.choose("scorer", "scorers", f.scorer);
    const target = scorer.part.target;
    const pruner = parts.choose("pruner", "pruners", f.pruner ?? PRUNERS[target], { target });
    const transforms = f.transform.map((name, i) =>
      parts.choose(`transform${i}`, "transforms", name, { flag: "--transform" })
    );
    parts.done();
    const macs = f.target_macs !== undefined || f.speed_up !== undefined;
    if (macs && target !== "channels") {
      throw new UsageError(
        `--target_macs and --speed_up cut channels; ${scorer.name} scores ${target}`,
      );
    }
    if (f.target_macs && f.speed_up) {
      throw new UsageError("pass --target_macs or --speed_up, not both");
    }
    await ready();
    let m = await common.modelFrom(f)(await common.dataShape(f));
    const pinned = target === "channels" ? common.channelPreflight(m, f) : [];
    for (const t of transforms) m = await common.transformed(m, t.part, t.options);
    if (target === "activations" && !activationMaskLayers(m).length) {
      throw new UsageError(
        `${scorer.name} scores activations; the model has no MaskedReLU (--transform relu_taylor/masked_relu)`,
      );
    }
    const kind = f.groups === "conv" ? "conv" : "all";
    if (target === "channels" && !prunableGroups(m, kind).length) {
      throw new UsageError(`the model has no prunable ${f.groups} channel groups`);
    }
    const steps = macs && f.iterations === 1 ? 100 : f.iterations;
    // masks are rebuilt over all units (a ratio of the whole); a structural cut is of what is left
    const keepRatio = (i: number) =>
      macs ? 1 - f.step : f.keep_ratio ** (target === "channels" ? 1 / steps : (i + 1) / steps);
    const goal = (ctx: RunContext) =>
      f.target_macs ?? (ctx.report.before as Evaluation).macs / f.speed_up!;
    const until = untilBudget({ iterations: steps, maxMacs: macs ? goal : undefined });
    const groups = target === "channels" && f.groups !== "scored"
      ? (ctx: RunContext) => prunableGroups(ctx.model!, kind).map((g) => g.id)
      : undefined;
    const sgd = { kind: "sgd", lr: f.lr, momentum: 0.9 } as const;
    const measured = { bytes: true, latency: "deployed", latencyBatch: f.latency_batch } as const;
    return [
      ...common.start(f, m, { epochs: f.pretrain_epochs, batchSize: f.batch_size }),
      ...pinned,
      teacherFromModel(() => alpha > 0),
      evaluate({ name: "before", ...measured, keepDeployed: () => "base" }),
      iterate({
        name: "prune steps",
        until,
        total: () => steps,
        stages: [
          score({ scorer, batchSize: f.batch_size, groups }),
          mask({
            pruner,
            scores: scorer.name,
            budget: (ctx) => ({ keepRatio: keepRatio(ctx.step.index) }),
          }),
          ...(f.finetune_epochs
            ? [(alpha ? distill : finetune)({
              batchSize: f.batch_size,
              optimizer: sgd,
              epochs: f.finetune_epochs,
              alpha,
              gamma: alpha ? f.gamma : 1,
              temperature: f.temperature,
              seed: f.seed,
            })]
            : []),
          evaluate({ name: "step" }),
          record<PruneStepRow>({
            key: "iterations",
            row: (ctx) => {
              const { kept, total } = (ctx.report.pruning as PruneRecord[]).at(-1)!;
              const { top1, params, nonzero_params, macs, relus_active } = ctx.report
                .step as Evaluation;
              const iteration = ctx.step.index + 1;
              return { iteration, kept, total, top1, params, nonzero_params, macs, relus_active };
            },
            log: (r) =>
              `step ${r.iteration}: kept ${r.kept} of ${r.total} ${target}, top-1 ${
                common.pct(r.top1)
              }`,
          }),
        ],
      }),
      common.macTarget((ctx, base = (ctx.report.before as Evaluation).macs) =>
        macs && {
          flag: f.speed_up ? `--speed_up ${f.speed_up}` : `--target_macs ${f.target_macs}`,
          base,
          goal: goal(ctx),
        }
      ),
      evaluate({ name: "after", ...measured }),
      compareDeployed({ base: "base", batchSize: f.latency_batch }),
      chart<PruneStepRow>({
        file: "iterations.svg",
        rows: "iterations",
        title: (ctx) => `${ctx.model!.name} on ${ctx.data!.name}: ${scorer.name} + ${pruner.name}`,
        xLabel: "steps",
        yLabel: "top-1",
        lead: (ctx) =>
          ({ iteration: 0, top1: (ctx.report.before as Evaluation).top1 }) as PruneStepRow,
        lines: [{
          name: f.finetune_epochs
            ? `${f.finetune_epochs} fine-tune epochs per step`
            : "no fine-tuning",
          x: (r) => r.iteration,
          y: (r) => r.top1,
        }],
      }),
    ];
  },
  summarize(ctx, f) {
    const b = ctx.report.before as Required<Evaluation>,
      a = ctx.report.after as Required<Evaluation>;
    const rows = rowsOf(ctx),
      { ratios, lines } = common.reduction(b, a, ctx.report.speed_up as SpeedUp);
    Object.assign(ctx.report, { ratios, top1_before: b.top1, top1_after: a.top1 });
    const keys = [
      "params",
      "nonzero_params",
      "macs",
      "relus_active",
      "bytes",
      "latency_ms",
    ] as const;
    return [
      `${f.scorer} + ${(ctx.report.pruning as PruneRecord[])[0].pruner}: kept ` +
      `${rows.at(-1)!.kept} of ${rows[0].total} in ${rows.length} steps`,
      ...common.table(["", "before", "after"], [
        ["top-1", common.pct(b.top1), common.pct(a.top1)],
        ...keys.map((k) => [k, +b[k].toFixed(2), +a[k].toFixed(2)]),
      ], true),
      ...lines,
    ];
  },
};

if (import.meta.main) runMain(prunePipeline);
