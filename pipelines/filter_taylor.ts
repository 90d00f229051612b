/**
 * Iterative Taylor filter pruning (Molchanov et al. 2016, as the
 * pytorch-pruning seed runs it): rank every conv filter over one pass of the
 * training data, remove the N globally lowest for real, fine-tune, repeat;
 * then fine-tune some more. Target: channels (the conv filter groups); any
 * channels scorer or pruner fits (`--scorer l1`: Li et al.'s filter norms).
 * Budget: `--iterations` of N filters (the seed's defaults, scaled to the
 * model), or `--speed_up X` (until MACs fall by X). Every iteration is
 * measured (filters, params, MACs, bytes, top-1 before and after its
 * fine-tune, deployed latency: report.json `iterations`); at the end the
 * deployed unpruned and pruned models are timed side by side (`speed_up`).
 * With no flags: a VGG-11-BN (width 0.125, inputs padded to 32x32 inside)
 * trained for 3 epochs on 4000 MNIST digits, 5 iterations of 42 filters.
 *
 * @example
 * ```sh
 * deno task run pipelines/filter_taylor.ts
 * deno task run pipelines/filter_taylor.ts --dataset fashion-mnist --width 0.25 --speed_up 2.5 --round_to 4
 * ```
 * @module
 */
import {
  channelCount,
  chart,
  compareDeployed,
  countOf,
  evaluate,
  type Evaluation,
  filterCounts,
  finetune,
  type FlagDefs,
  iterate,
  iterationsFor,
  mask,
  PartChooser,
  type PipelineSpec,
  prunableGroups,
  record,
  reportRows,
  type RunContext,
  runMain,
  score,
  type SpeedUp,
  stage,
  untilBudget,
  UsageError,
} from "@shears/core";
import filterTaylor from "@shears/filter_taylor";
import * as common from "./common.ts";

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
  iterations: {
    type: "int",
    min: 1,
    help: "iterations (default: floor(floor(filters / N) * 2/3))",
  },
  speed_up: { type: "number", min: 1, minExclusive: true, help: "or: until MACs fall by this" },
  round_to: { type: "int", default: 1, min: 1, help: "filter counts stay multiples of this" },
  finetune_epochs: { type: "int", default: 1, min: 0, help: "after each iteration (the seed: 10)" },
  final_epochs: { type: "int", default: 2, min: 0, help: "after the last one (the seed: 15)" },
  lr: { ...common.trainFlags.lr, default: 1e-3, help: "fine-tune SGD lr (momentum 0.9)" },
  batch_size: { ...common.trainFlags.batch_size, help: "batch size (scoring and fine-tuning)" },
  pretrain_epochs: common.trainFlags.pretrain_epochs,
  latency_batch: { type: "int", default: 64, min: 1, help: "batch of the deployed latency" },
} satisfies FlagDefs;

/** One row of the per-iteration table (iteration 0 = the unpruned model). */
export interface IterationRow {
  iteration: number;
  filters: number;
  params: number;
  macs: number;
  bytes: number;
  top1: number;
  /** Top-1 right after the cut, before the iteration's fine-tune (iteration 0: = top1). */
  top1_pruned: number;
  latency_ms: number;
}

/** Filters removed per conv layer over the whole run. */
export type LayerRow = common.WidthRow;

export type { SpeedUp };

const pct = common.pct;
const rowsOf = (ctx: RunContext) => reportRows<IterationRow>(ctx, "iterations");
const share = (r: IterationRow, rows: IterationRow[]) => r.filters / rows[0].filters;

/** Measures the model (bytes, deployed latency) into the last row (row 0 when there is none). */
const full = (f: { latency_batch: number }) => [
  evaluate({
    name: "full",
    bytes: true,
    latency: "deployed",
    latencyBatch: f.latency_batch,
    keepDeployed: (ctx) => (rowsOf(ctx).length ? undefined : "base"),
    log: () => "",
  }),
  record<IterationRow>({
    key: "iterations",
    merge: true,
    row: (ctx, rows) => {
      const { params, macs, bytes, top1, latency_ms } = ctx.report.full as Required<Evaluation>;
      const filters = channelCount(ctx.model!, "conv");
      const first = rows.length ? {} : { iteration: 0, top1_pruned: top1 };
      return { ...first, filters, params, macs, bytes, top1, latency_ms };
    },
    metrics: ["filters", "params", "macs", "bytes", "top1", "latency_ms"],
    step: (r) => r.iteration,
    log: (r) =>
      `iteration ${r.iteration}: ${r.filters} filters, ${r.params} params, ${r.macs} MACs, ` +
      `top-1 ${pct(r.top1)}, ${r.latency_ms.toFixed(2)} ms / batch of ${f.latency_batch}`,
  }),
];

/** The filter_taylor pipeline. */
export const filterTaylorPipeline: PipelineSpec<typeof filterTaylorFlags> = {
  name: "filter_taylor",
  description:
    "Iterative Taylor filter pruning (Molchanov et al. 2016): rank filters over an epoch, remove " +
    "the globally lowest for real, fine-tune, repeat.",
  flags: filterTaylorFlags,
  plugins: [filterTaylor],
  takes: { target: "channels", flags: common.partFlags() },
  async build(f, ctx, ready) {
    if (f.speed_up && f.iterations) {
      throw new UsageError("--speed_up and --iterations are alternatives; pass one");
    }
    const parts = new PartChooser(ctx.registry, f.opt);
    const scorer = parts.choose("scorer", "scorers", f.scorer, {
      target: "channels",
      defaults: { per_example_abs: f.per_example_abs },
    });
    const pruner = parts.choose("pruner", "pruners", f.pruner, {
      target: "channels",
      defaults: { round_to: f.round_to },
    });
    parts.done();
    await ready();
    const m = await common.modelFrom(f)(await common.dataShape(f));
    const pinned = common.channelPreflight(m, f);
    const total = channelCount(m, "conv");
    if (total === 0) throw new UsageError(`model ${m.name} has no prunable conv filters`);
    const N = f.filters_per_iteration ?? Math.max(1, countOf(512 / 4224, total, "round"));
    const iterations = f.speed_up ? undefined : f.iterations ?? iterationsFor(total, N, 2 / 3);
    if (iterations === 0) {
      throw new UsageError(
        `--filters_per_iteration ${N} gives 0 iterations for ${total} filters (the seed's formula ` +
          `needs N <= ${Math.floor(total / 2)}); lower it or pass --iterations`,
      );
    }
    const tune = (epochs: number) =>
      finetune({
        epochs,
        batchSize: f.batch_size,
        optimizer: { kind: "sgd", lr: f.lr, momentum: 0.9 },
        augment: false,
        seed: f.seed,
        evalLimit: f.limit_test,
      });
    const until = untilBudget({
      iterations,
      maxMacs: f.speed_up ? (ctx) => rowsOf(ctx)[0].macs / f.speed_up! : undefined,
    });
    ctx.state.set("filter_taylor/before", filterCounts(m));
    return [
      stage("plan", (_, emit) => emit.log(`${total} filters; ${N} per iteration`)),
      ...common.start(f, m, { epochs: f.pretrain_epochs, batchSize: f.batch_size }),
      ...pinned,
      ...full(f),
      iterate({
        name: "prune iterations",
        total: (_, i) => iterations ?? i + 1,
        until,
        stages: [
          score({
            scorer,
            batchSize: f.batch_size,
            groups: (ctx) => prunableGroups(ctx.model!, "conv").map((g) => g.id),
          }),
          mask({ pruner, scores: scorer.name, budget: { remove: N } }),
          evaluate({ name: "cut", accuracyOnly: true }),
          record<IterationRow>({
            name: "record cut",
            key: "iterations",
            row: (ctx) => ({
              iteration: ctx.step.index + 1,
              top1_pruned: (ctx.report.cut as Evaluation).top1,
            }),
            metrics: ["top1_pruned"],
            step: (r) => r.iteration,
          }),
          ...(f.finetune_epochs ? [tune(f.finetune_epochs)] : []),
          ...full(f),
        ],
      }),
      common.macTarget((ctx, base = rowsOf(ctx)[0].macs) =>
        f.speed_up && { flag: `--speed_up ${f.speed_up}`, base, goal: base / f.speed_up }
      ),
      ...(f.final_epochs
        ? [
          tune(f.final_epochs),
          stage("final", (ctx) => void (ctx.report.before_final = { ...rowsOf(ctx).at(-1)! })),
          ...full(f),
        ]
        : []),
      compareDeployed({ base: "base", batchSize: f.latency_batch }),
      chart<IterationRow>({
        file: "iterations.svg",
        rows: "iterations",
        title: (ctx) => `${ctx.model!.name} on ${ctx.data!.name}: top-1 per pruning iteration`,
        xLabel: "filters left (share of the original)",
        yLabel: "top-1",
        lines: [
          { name: "after fine-tune", x: share, y: (r) => r.top1 },
          { name: "right after the cut", x: share, y: (r) => r.top1_pruned },
        ],
      }),
    ];
  },
  summarize(ctx, f) {
    const rows = rowsOf(ctx), [base, last] = [rows[0], rows.at(-1)!];
    const side = ctx.report.speed_up as SpeedUp | undefined;
    const before = ctx.state.get("filter_taylor/before") as Map<string, number>;
    const layers = common.widthRows(before, filterCounts(ctx.model!));
    const { ratios, lines } = common.reduction(base, last, side, [
      "filters",
      base.filters,
      last.filters,
    ]);
    Object.assign(ctx.report, { layers, ratios, top1_before: base.top1, top1_after: last.top1 });
    return [
      `${f.scorer} filter pruning of ${ctx.model!.name} on ${
        ctx.data!.name
      } (${ctx.backend?.name})`,
      ...common.table(
        ["iter", "filters", "params", "MACs", "bytes", "pruned", "top-1", "latency ms"],
        rows.map((r) => [
          r.iteration,
          r.filters,
          r.params,
          r.macs,
          r.bytes,
          pct(r.top1_pruned),
          pct(r.top1),
          r.latency_ms.toFixed(2),
        ]),
      ),
      "",
      ...common.table(["layer", "before", "after", "removed"], layers.map((l) => Object.values(l))),
      "",
      ...lines,
    ];
  },
};

if (import.meta.main) runMain(filterTaylorPipeline);
