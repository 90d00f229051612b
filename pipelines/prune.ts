/**
 * Prune my model: a saved tfjs LayersModel (`--path`) or a zoo model, on any dataset, with any
 * scorer and pruner by registry name (the five methods' parts and `--plugin` ones), to a budget:
 * `--keep_ratio` of the scorer's target units (weights, channels or ReLU elements), or for
 * channels `--target_macs` / `--speed_up` (remove `--step` of the channels per step until the MACs
 * are that low); in `--iterations` steps, each followed by `--finetune_epochs` of fine-tuning
 * (distilled from the unpruned model with `--distill kd`), then the BatchNormalization statistics
 * re-estimated (`--bn_recalibrate`). `--transform` rewrites the model first
 * (e.g. `relu_taylor/masked_relu` makes its ReLUs prunable). Writes the usual report (before /
 * after: top-1, params, MACs, ReLUs, bytes, deployed latency; a row per step), iterations.svg and
 * the model. The default run and its figures: docs/methods.md.
 *
 * @example
 * ```sh
 * deno task run pipelines/prune.ts --scorer magnitude/abs --keep_ratio 0.3
 * deno task run pipelines/prune.ts --path my/model --dataset cifar10 --data_dir ~/cifar \
 *   --scorer filter_taylor/l1 --speed_up 2 --finetune_epochs 1 --distill kd
 * ```
 * @module
 */
import * as core from "@shears/core";
import * as common from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

const PRUNERS = {
  weights: "magnitude/global",
  channels: "filter_taylor/global_lowest",
  activations: "relu_taylor/global_topk",
};

const GROUPS = ["all", "conv", "scored"];
const model: common.ModelFlagDefs = common.modelFlags("lenet5");

/** Flags of prune.ts. */
export const pruneFlags = {
  ...model,
  ...common.dataFlags,
  ...common.channelFlags,
  scorer: { type: "string", default: "magnitude/abs", help: "scorer; its target is pruned" },
  pruner: { type: "string", help: "pruner (default by target: magnitude/global, ...)" },
  transform: { type: "strings", default: [], help: "transforms applied to the model first" },
  keep_ratio: { ...common.ratioFlag, default: 0.5, help: "fraction of the units to keep" },
  target_macs: {
    type: "int",
    min: 1,
    excludes: ["keep_ratio"],
    help: "channels: prune to at most this many MACs",
  },
  speed_up: { ...common.speedUpFlag, excludes: ["target_macs", "keep_ratio"] },
  step: { ...common.ratioFlag, default: 0.05, maxExclusive: true, help: "channels cut per step" },
  groups: {
    type: "string",
    default: "all",
    choices: GROUPS,
    help: "channel groups to cut: all prunable, conv (made by convs), scored (the scorer's)",
  },
  iterations: {
    type: "int",
    default: 1,
    min: 1,
    help: "steps; with --target_macs / --speed_up the most steps of --step each (1: up to 100)",
  },
  finetune_epochs: { type: "int", default: 0, min: 0, help: "fine-tune epochs after each step" },
  bn_recalibrate: {
    type: "int",
    min: 0,
    help: "batches to re-estimate BN statistics on after each step (0: off; default 50 when a " +
      "BN's momentum is above 0.9, e.g. Keras' 0.99, whose statistics lag a prune; else 0)",
  },
  ...common.distillFlags,
  distill: { ...common.distillFlags.distill, default: "none", help: "KD from the unpruned model" },
  lr: { ...common.trainFlags.lr, default: 0.01, help: "fine-tuning SGD lr (momentum 0.9)" },
  batch_size: common.trainFlags.batch_size,
  pretrain_epochs: common.trainFlags.pretrain_epochs,
  latency_batch: { type: "int", default: 32, min: 1, help: "batch of the deployed latency" },
} satisfies core.FlagDefs;

/** The prune pipeline. */
export const prunePipeline: core.PipelineSpec<typeof pruneFlags> = {
  name: "prune",
  description: "Prune any model with any scorer and pruner to a budget; fine-tune, distil, report.",
  flags: pruneFlags,
  plugins: shippedPlugins,
  takes: { target: "any", flags: common.partFlags({ transforms: "--transform" }) },
  async build(f, ctx, ready) {
    const alpha = common.kdAlpha(f);
    const parts = new core.PartChooser(ctx.registry, f.opt);
    const scorer = parts.choose("scorer", "scorers", f.scorer);
    const target = scorer.part.target, channels = target === "channels";
    const pruner = parts.choose("pruner", "pruners", f.pruner ?? PRUNERS[target], { target });
    const transforms = f.transform.map((name, i) =>
      parts.choose(`transform${i}`, "transforms", name, { flag: "--transform" })
    );
    parts.done();
    const macs = f.target_macs !== undefined || f.speed_up !== undefined;
    const cuts = `--target_macs and --speed_up cut channels; ${scorer.name} scores ${target}`;
    if (macs && !channels) throw new core.UsageError(cuts);
    await ready();
    let m = await common.modelFrom(f)(await common.dataShape(f));
    const pinned = channels ? common.channelPreflight(m, f) : [];
    for (const t of transforms) m = await common.transformed(m, t.part, t.options);
    const kind = f.groups === "conv" ? "conv" : "all";
    const none = target === "activations" && !core.activationMaskLayers(m).length
      ? `${scorer.name} scores activations; the model has no MaskedReLU (--transform relu_taylor/masked_relu)`
      : channels && !core.prunableGroups(m, kind).length &&
        `the model has no prunable ${f.groups} channel groups`;
    if (none) throw new core.UsageError(none);
    const steps = macs && f.iterations === 1 ? 100 : f.iterations;
    const slow = core.batchNormLayers(m).some((l) => Number(l.getConfig().momentum) > 0.9);
    const bn = f.bn_recalibrate ?? (slow ? 50 : 0);
    // masks are rebuilt over all units (a ratio of the whole); a structural cut is of what is left
    const budget = (ctx: core.RunContext) => ({
      keepRatio: macs ? 1 - f.step : f.keep_ratio ** ((channels ? 1 : ctx.step.index + 1) / steps),
    });
    const groups = channels && f.groups !== "scored" ? kind : undefined;
    const kd = { alpha, gamma: alpha ? f.gamma : 1, temperature: f.temperature, seed: f.seed };
    const sgd = { kind: "sgd", lr: f.lr, momentum: 0.9 } as const;
    const tune = { ...kd, batchSize: f.batch_size, optimizer: sgd, epochs: f.finetune_epochs };
    const tuned = f.finetune_epochs ? `${f.finetune_epochs} fine-tune epochs per step` : "";
    return [
      ...common.start(f, m, { epochs: f.pretrain_epochs, batchSize: f.batch_size }),
      ...pinned,
      core.teacherFromModel(() => alpha > 0),
      ...core.beforeAfterPrune({
        name: "prune steps",
        iterations: steps,
        macs: (base) => common.macGoal(f, base),
        latencyBatch: f.latency_batch,
        units: target,
        stages: [
          core.score({ scorer, batchSize: f.batch_size, groups }),
          core.mask({ pruner, scores: scorer.name, budget }),
          ...core.when(f.finetune_epochs, (alpha ? core.distill : core.finetune)(tune)),
          ...core.when(
            bn,
            core.recalibrateBatchNorm({ batches: bn, batchSize: f.batch_size, seed: f.seed }),
          ),
        ],
        chart: { title: `${scorer.name} + ${pruner.name}`, line: tuned || "no fine-tuning" },
      }),
    ];
  },
  summarize(ctx, f) {
    const [b, a] = ["before", "after"].map((n) =>
      core.evaluation(ctx, n) as Required<core.Evaluation>
    );
    const rows = core.reportRows<core.StepRow>(ctx, "iterations");
    const steps = rows.length === 1 ? "1 step" : `${rows.length} steps`;
    const kept = `kept ${rows.at(-1)!.kept} of ${rows[0].total} in ${steps}`;
    return [
      `${ctx.registry.fullName("scorers", f.scorer)} + ${core.lastPruning(ctx).pruner}: ${kept}`,
      ...common.table(...core.beforeAfterTable(ctx), true),
      ...common.reportReduction(ctx, b, a),
    ];
  },
};

if (import.meta.main) core.runMain(prunePipeline);
