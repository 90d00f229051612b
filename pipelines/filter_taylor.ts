/**
 * Iterative Taylor filter pruning (Molchanov et al. 2016, as the
 * pytorch-pruning seed runs it): rank every conv filter over one pass of the
 * training data, remove the N globally lowest for real (a smaller model),
 * fine-tune, repeat; then fine-tune some more. Target: channels (the conv
 * filter groups); `--scorer l1` ranks by filter L1 norm (Li et al.), and any
 * channels scorer or pruner of a plugin fits.
 *
 * Budget: `--iterations` (default the seed's floor(floor(filters / N) * 2/3))
 * of `--filters_per_iteration` N (default: the seed's share, 512 of VGG-16's
 * 4224 filters, of this model's filters), or `--speed_up X`: prune until
 * base MACs / pruned MACs >= X. `--round_to R` keeps every pruned layer's
 * filter count a multiple of R.
 *
 * With no flags: a VGG-11-BN at width 0.125 (344 filters; 28x28 inputs are
 * zero-padded to 32x32 inside the model) trained for 3 epochs on 4000 of the
 * embedded MNIST digits, then the seed's 5 iterations of 42 filters with 1
 * fine-tune epoch each and 2 at the end (the seed: 10 and 15).
 *
 * Measured at every iteration (iteration 0 = the unpruned model): filters
 * left, params, MACs, size on disk, test top-1 (after the iteration's
 * fine-tune; `top1_pruned` right after the cut) and median latency of a
 * batch of `--latency_batch` of the model as deployed (BN folded, ReLUs
 * fused). report.json holds `iterations: [{iteration, filters, params, macs,
 * bytes, top1, top1_pruned, latency_ms}]`, `layers: [{layer, before, after,
 * removed}]`, `ratios` (pruned / unpruned) and `speed_up` (the deployed
 * unpruned and pruned models timed side by side at the end); iterations.svg
 * plots top-1 against the share of filters left.
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
  compareDeployed,
  countOf,
  evaluate,
  type Evaluation,
  finetune,
  type FlagDefs,
  iterate,
  iterationsFor,
  lineChartSVG,
  load,
  mask,
  PartChooser,
  type PipelineSpec,
  plot,
  prunableGroups,
  type RunContext,
  runMain,
  score,
  type SpeedUp,
  stage,
  type tf,
  UsageError,
} from "@shears/core";
import filterTaylor from "@shears/filter_taylor";
import * as common from "./common.ts";

const model: common.ModelFlagDefs = common.modelFlags("vgg11_bn", 0.125);

/** Flags of the filter_taylor pipeline. */
export const filterTaylorFlags = {
  ...model,
  ...common.dataFlags,
  limit_train: {
    ...common.dataFlags.limit_train,
    default: 4000,
    help: "training examples (60000: all)",
  },
  scorer: {
    type: "string",
    default: "taylor",
    help: "filter rank: taylor (mean a·g over one epoch), l1, ...",
  },
  pruner: {
    type: "string",
    default: "global_lowest",
    help: "channels pruner, removing N per iteration",
  },
  per_example_abs: { type: "boolean", default: false, help: "taylor: |·| per example (the paper)" },
  filters_per_iteration: {
    type: "int",
    min: 1,
    help: "filters removed per iteration (default: 512/4224 of them)",
  },
  iterations: {
    type: "int",
    min: 1,
    help: "pruning iterations (default: floor(floor(filters / N) * 2/3))",
  },
  speed_up: {
    type: "number",
    min: 1,
    minExclusive: true,
    help: "instead of --iterations: prune until base MACs / pruned MACs >= this",
  },
  round_to: {
    type: "int",
    default: 1,
    min: 1,
    help: "keep every pruned layer's filter count a multiple of this",
  },
  finetune_epochs: {
    type: "int",
    default: 1,
    min: 0,
    help: "fine-tune epochs after each iteration (the seed: 10)",
  },
  final_epochs: {
    type: "int",
    default: 2,
    min: 0,
    help: "fine-tune epochs after the last iteration (the seed: 15)",
  },
  lr: {
    ...common.trainFlags.lr,
    default: 1e-3,
    help: "fine-tune SGD learning rate (momentum 0.9)",
  },
  batch_size: { ...common.trainFlags.batch_size, help: "batch size (scoring and fine-tuning)" },
  pretrain_epochs: common.trainFlags.pretrain_epochs,
  latency_batch: {
    type: "int",
    default: 64,
    min: 1,
    help: "batch size of the (deployed) latency measurement",
  },
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
export interface LayerRow {
  layer: string;
  before: number;
  after: number;
  removed: number;
}

export type { SpeedUp };

/** Conv2D filter counts by layer name. */
function convFilters(model: tf.LayersModel): Map<string, number> {
  return new Map(
    model.layers.filter((l) => l.getClassName() === "Conv2D").map((l) => [
      l.name,
      (l.getConfig() as { filters: number }).filters,
    ]),
  );
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const ratio = (a: number, b: number) => (b ? a / b : NaN);
const rowsOf = (ctx: RunContext) => (ctx.report.iterations ??= []) as IterationRow[];

/** Everything measured now goes into the last row (row 0 when there is none). */
const full = (f: { latency_batch: number }) => [
  evaluate({
    name: "full",
    bytes: true,
    latency: "deployed",
    latencyBatch: f.latency_batch,
    keepDeployed: (ctx) => (rowsOf(ctx).length ? undefined : "base"),
    log: () => "",
  }),
  stage("record", (ctx, emit) => {
    const e = ctx.report.full as Required<Evaluation>, rows = rowsOf(ctx);
    const row = rows.at(-1) ??
      rows[rows.push({ iteration: 0, top1_pruned: e.top1 } as IterationRow) - 1];
    const { params, macs, bytes, top1, latency_ms } = e;
    Object.assign(row, {
      filters: channelCount(ctx.model!, "conv"),
      params,
      macs,
      bytes,
      top1,
      latency_ms,
    });
    for (const k of ["filters", "params", "macs", "bytes", "top1", "latency_ms"] as const) {
      emit.metric(k, row[k], row.iteration);
    }
    emit.log(
      `iteration ${row.iteration}: ${row.filters} filters, ${row.params} params, ${row.macs} MACs, ` +
        `top-1 ${pct(row.top1)}, ${row.latency_ms.toFixed(2)} ms / batch of ${f.latency_batch}`,
    );
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
  takes: { target: "channels", flags: { scorers: "--scorer", pruners: "--pruner" } },
  async build(f, ctx, ready) {
    if (f.speed_up && f.iterations) {
      throw new UsageError("--speed_up and --iterations are alternatives; pass one");
    }
    const parts = new PartChooser(ctx.registry, f.opt);
    const target = "channels";
    const scorer = parts.choose("scorer", {
      flag: "--scorer",
      kind: "scorers",
      name: f.scorer,
      target,
      defaults: { per_example_abs: f.per_example_abs },
    });
    const pruner = parts.choose("pruner", {
      flag: "--pruner",
      kind: "pruners",
      name: f.pruner,
      target,
      defaults: { round_to: f.round_to },
    });
    parts.done();
    await ready();
    // a VGG on inputs smaller than 32x32 (MNIST's 28x28) zero-pads them to 32 after its input
    const size = ([h, w, c]: number[]) => [Math.max(h, 32), Math.max(w, 32), c];
    const m =
      await (f.model.startsWith("vgg") ? common.paddedModelFrom(f, size) : common.modelFrom(f))(
        await common.dataShape(f),
      );
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
    const before = convFilters(m);
    const tune = (epochs: number) =>
      finetune({
        epochs,
        batchSize: f.batch_size,
        optimizer: { kind: "sgd", lr: f.lr, momentum: 0.9 },
        augment: false,
        seed: f.seed,
        evalLimit: f.limit_test,
      });
    const done = (ctx: RunContext, i: number) => {
      if (iterations !== undefined) return i + 1 >= iterations;
      const rows = rowsOf(ctx),
        last = (ctx.report.pruning as { kept: number; total: number }[]).at(-1)!;
      return rows[0].macs / rows.at(-1)!.macs >= f.speed_up! || last.kept === last.total;
    };
    ctx.state.set("filter_taylor/before", before);
    return [
      load({ data: common.dataFrom(f, f.seed), model: () => m }),
      stage("plan", (_, emit) =>
        emit.log(
          `${total} filters; ${N} per iteration, ` +
            (iterations ? `${iterations} iterations` : `until MACs speed-up >= ${f.speed_up}`),
        )),
      common.pretrain("model", () => !f.path, {
        epochs: f.pretrain_epochs,
        batchSize: f.batch_size,
        seed: f.seed,
      }),
      ...full(f),
      iterate({
        name: "prune iterations",
        total: (_, i) => iterations ?? i + 1,
        until: done,
        stages: [
          score({
            scorer: scorer.name,
            options: scorer.options,
            batchSize: f.batch_size,
            groups: (ctx) => prunableGroups(ctx.model!, "conv").map((g) => g.id),
          }),
          mask({
            pruner: pruner.name,
            scores: scorer.name,
            budget: { remove: N },
            options: pruner.options,
          }),
          evaluate({ name: "cut", accuracyOnly: true }),
          stage("record cut", (ctx, emit) => {
            const top1 = (ctx.report.cut as Evaluation).top1, iteration = ctx.step.index + 1;
            rowsOf(ctx).push({ iteration, top1_pruned: top1 } as IterationRow);
            emit.metric("top1_pruned", top1, iteration);
          }),
          ...(f.finetune_epochs ? [tune(f.finetune_epochs)] : []),
          ...full(f),
        ],
      }),
      ...(f.final_epochs
        ? [
          tune(f.final_epochs),
          stage("final", (ctx) => void (ctx.report.before_final = { ...rowsOf(ctx).at(-1)! })),
          ...full(f),
        ]
        : []),
      compareDeployed({ base: "base", batchSize: f.latency_batch }),
      plot({
        file: "iterations.svg",
        svg: (ctx) => {
          const rows = rowsOf(ctx), share = (r: IterationRow) => r.filters / rows[0].filters;
          return lineChartSVG({
            title: `${ctx.model!.name} on ${ctx.data!.name}: top-1 per pruning iteration`,
            xLabel: "filters left (share of the original)",
            yLabel: "top-1",
            series: [
              { name: "after fine-tune", points: rows.map((r) => [share(r), r.top1]) },
              { name: "right after the cut", points: rows.map((r) => [share(r), r.top1_pruned]) },
            ],
          });
        },
      }),
    ];
  },
  summarize(ctx, f) {
    const rows = rowsOf(ctx), [base, last] = [rows[0], rows.at(-1)!];
    const side = ctx.report.speed_up as SpeedUp | undefined;
    const after = convFilters(ctx.model!);
    const before = ctx.state.get("filter_taylor/before") as Map<string, number>;
    const layers: LayerRow[] = [...before].map(([layer, n]) => {
      const a = after.get(layer) ?? 0;
      return { layer, before: n, after: a, removed: n - a };
    });
    const ratios = {
      filters: ratio(last.filters, base.filters),
      params: ratio(last.params, base.params),
      macs: ratio(last.macs, base.macs),
      latency: ratio(last.latency_ms, base.latency_ms),
      mac_reduction: ratio(base.macs, last.macs),
      speed_up: side?.speed_up ?? ratio(base.latency_ms, last.latency_ms),
    };
    Object.assign(ctx.report, { layers, ratios, top1_before: base.top1, top1_after: last.top1 });
    const pad = (s: string | number, n: number) => String(s).padStart(n);
    return [
      `${f.scorer} filter pruning of ${ctx.model!.name} on ${
        ctx.data!.name
      } (${ctx.backend?.name})`,
      `${pad("iter", 4)} ${pad("filters", 8)} ${pad("params", 10)} ${pad("MACs", 12)} ${
        pad("bytes", 10)
      } ` +
      `${pad("pruned", 8)} ${pad("top-1", 8)} ${pad("latency ms", 11)}`,
      ...rows.map((r) =>
        `${pad(r.iteration, 4)} ${pad(r.filters, 8)} ${pad(r.params, 10)} ${pad(r.macs, 12)} ` +
        `${pad(r.bytes, 10)} ${pad(pct(r.top1_pruned), 8)} ${pad(pct(r.top1), 8)} ${
          pad(r.latency_ms.toFixed(2), 11)
        }`
      ),
      "",
      `${pad("layer", 16)} ${pad("before", 7)} ${pad("after", 7)} ${pad("removed", 8)}`,
      ...layers.map((l) =>
        `${pad(l.layer, 16)} ${pad(l.before, 7)} ${pad(l.after, 7)} ${pad(l.removed, 8)}`
      ),
      "",
      `filters ${pct(ratios.filters)} of the original, params ${pct(ratios.params)}, ` +
      `MACs ${pct(ratios.macs)} (x${ratios.mac_reduction.toFixed(2)} fewer)`,
      `top-1 ${pct(base.top1)} -> ${pct(last.top1)}; latency ${
        (side?.base_ms ?? base.latency_ms).toFixed(2)
      } -> ` +
      `${(side?.pruned_ms ?? last.latency_ms).toFixed(2)} ms (x${
        ratios.speed_up.toFixed(2)
      } speed-up` +
      `${side ? ", side by side" : ""}; x${
        (ratios.speed_up / ratios.mac_reduction).toFixed(2)
      } of the MAC reduction)`,
    ];
  },
};

if (import.meta.main) runMain(filterTaylorPipeline);
