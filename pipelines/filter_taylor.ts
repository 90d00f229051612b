/**
 * Iterative Taylor filter pruning (Molchanov et al. 2016, as the pytorch-pruning seed runs it):
 * rank every conv filter over an epoch of training data, remove the N globally lowest for real,
 * fine-tune, repeat; then fine-tune some more. Target: channels (the conv filters); any channels
 * scorer or pruner fits (`--scorer l1`: Li et al.'s filter norms). Budget: `--iterations` of N
 * filters (the seed's defaults, scaled to the model) or `--speed_up X` (until MACs fall by X).
 * Each iteration is measured (filters, params, MACs, bytes, top-1 before and after its fine-tune,
 * deployed latency: report.json `iterations`); the deployed unpruned and pruned models are timed
 * side by side at the end (`speed_up`). With no flags: a VGG-11-BN (width 0.125, inputs padded to
 * 32x32 inside) trained for 3 epochs on 4000 MNIST digits, 5 iterations of 42 filters
 * (docs/methods.md: the default run's figures).
 *
 * @example
 * ```sh
 * deno task run pipelines/filter_taylor.ts
 * deno task run pipelines/filter_taylor.ts --dataset fashion-mnist --width 0.25 --speed_up 2.5 --round_to 4
 * ```
 * @module
 */
import * as core from "@shears/core";
import filterTaylor from "@shears/filter_taylor";
import * as common from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

const model: common.ModelFlagDefs = common.modelFlags("vgg11_bn", 0.125);

/** Flags of the filter_taylor pipeline. */
export const filterTaylorFlags = {
  ...model,
  ...common.dataFlags,
  ...common.channelFlags,
  limit_train: { ...common.dataFlags.limit_train, default: 4000, help: "training examples" },
  scorer: { type: "string", default: "taylor", help: "filter rank: taylor (a·g), l1, ..." },
  pruner: { type: "string", default: "global_lowest", help: "removes N filters per iteration" },
  per_example_abs: { type: "boolean", default: false, help: "taylor: |·| per example (the paper)" },
  filters_per_iteration: { type: "int", min: 1, help: "N (default: 512/4224 of the filters)" },
  iterations: { type: "int", min: 1, help: "default: floor(floor(filters / N) * 2/3)" },
  speed_up: { ...common.speedUpFlag, excludes: ["iterations"] },
  round_to: { type: "int", default: 1, min: 1, help: "filter counts stay multiples of this" },
  finetune_epochs: { type: "int", default: 1, min: 0, help: "after each iteration (the seed: 10)" },
  final_epochs: { type: "int", default: 2, min: 0, help: "after the last one (the seed: 15)" },
  lr: { ...common.trainFlags.lr, default: 1e-3, help: "fine-tune SGD lr (momentum 0.9)" },
  batch_size: { ...common.trainFlags.batch_size, help: "batch size (scoring and fine-tuning)" },
  pretrain_epochs: common.trainFlags.pretrain_epochs,
  latency_batch: { type: "int", default: 64, min: 1, help: "batch of the deployed latency" },
} satisfies core.FlagDefs;

/** One row of report.json `iterations` (iteration 0 = the unpruned model). */
export interface IterationRow extends core.MeasuredRow {
  filters: number;
}

/** Filters removed per conv layer over the whole run. */
export type LayerRow = common.WidthRow;

export type { SpeedUp } from "@shears/core";

/** The filter_taylor pipeline. */
export const filterTaylorPipeline: core.PipelineSpec<typeof filterTaylorFlags> = {
  name: "filter_taylor",
  description:
    "Iterative Taylor filter pruning (Molchanov et al. 2016): rank filters over an epoch, remove " +
    "the globally lowest for real, fine-tune, repeat.",
  flags: filterTaylorFlags,
  plugins: [filterTaylor],
  partsFrom: shippedPlugins, // other methods' parts, by full name
  takes: { target: "channels", flags: common.partFlags() },
  async build(f, ctx, ready) {
    const { per_example_abs, round_to } = f, target = "channels";
    const { scorer, pruner } = core.chooseParts(ctx.registry, f.opt, {
      scorer: { kind: "scorers", name: f.scorer, target, defaults: { per_example_abs } },
      pruner: { kind: "pruners", name: f.pruner, target, defaults: { round_to } },
    });
    await ready();
    const m = await common.modelFrom(f)(await common.dataShape(f));
    const pinned = common.channelPreflight(m, f);
    const total = core.channelCount(m, "conv");
    if (total === 0) throw new core.UsageError(`model ${m.name} has no prunable conv filters`);
    const N = f.filters_per_iteration ?? Math.max(1, core.countOf(512 / 4224, total, "round"));
    const iterations = f.speed_up ? undefined : f.iterations ?? core.iterationsFor(total, N, 2 / 3);
    if (iterations === 0) {
      throw new core.UsageError(
        `--filters_per_iteration ${N} gives 0 iterations for ${total} filters (the seed's formula ` +
          `needs N <= ${Math.floor(total / 2)}); lower it or pass --iterations`,
      );
    }
    const fit = { batchSize: f.batch_size, augment: false, seed: f.seed, evalLimit: f.limit_test };
    const sgd = { kind: "sgd", lr: f.lr, momentum: 0.9 } as const;
    const tune = (epochs: number) =>
      core.when(epochs, core.finetune({ ...fit, epochs, optimizer: sgd }));
    ctx.state.set("filter_taylor/before", core.filterCounts(m));
    return [
      core.stage("plan", (_, emit) => emit.log(`${total} filters; ${N} per iteration`)),
      ...common.start(f, m, { epochs: f.pretrain_epochs, batchSize: f.batch_size }),
      ...pinned,
      ...core.measuredIterations({
        name: "prune iterations",
        iterations,
        macs: (base) => common.macGoal(f, base),
        units: ["filters", (model) => core.channelCount(model, "conv")],
        latencyBatch: f.latency_batch,
        cut: [
          core.score({ scorer, batchSize: f.batch_size, groups: "conv" }),
          core.mask({ pruner, scores: scorer.name, budget: { remove: N } }),
        ],
        tune: tune(f.finetune_epochs),
        final: tune(f.final_epochs),
      }),
    ];
  },
  summarize(ctx, f) {
    const rows = core.reportRows<IterationRow>(ctx, "iterations"), last = rows.at(-1)!;
    const before = ctx.state.get("filter_taylor/before") as Map<string, number>;
    const layers = ctx.report.layers = common.widthRows(before, core.filterCounts(ctx.model!));
    const units: [string, number, number] = ["filters", rows[0].filters, last.filters];
    const { model, data, backend } = ctx;
    return [
      `${f.scorer} filter pruning of ${model!.name} on ${data!.name} (${backend?.name})`,
      ...common.table(...core.measuredTable(rows, "filters")),
      "",
      ...common.table(["layer", "before", "after", "removed"], layers.map((l) => Object.values(l))),
      "",
      ...common.reportReduction(ctx, rows[0], last, units),
    ];
  },
};

if (import.meta.main) core.runMain(filterTaylorPipeline);
