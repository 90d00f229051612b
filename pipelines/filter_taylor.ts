/**
 * Iterative Taylor filter pruning (Molchanov et al. 2016, as the
 * pytorch-pruning seed runs it): rank every conv filter over one pass of the
 * training data, remove the N globally lowest for real (a smaller model),
 * fine-tune, repeat; then fine-tune some more. `--scorer l1` ranks by filter
 * L1 norm instead (Li et al.), for comparison at the same budget.
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
 * fine-tune epoch each and 2 at the end (the seed: 10 and 15, `--finetune_epochs
 * 10 --final_epochs 15`).
 *
 * Measured at every iteration (iteration 0 = the unpruned model):
 * filters left, params, MACs, size on disk, test top-1 (after the
 * iteration's fine-tune; `top1_pruned` right after the cut) and median
 * inference latency of a batch of `--latency_batch`, measured on the model as
 * deployed (core's inferenceModel: BN folded into the convolutions, ReLUs
 * fused; the same function in inference mode). report.json holds
 * `iterations: [{iteration, filters, params, macs, bytes, top1, top1_pruned,
 * latency_ms}]`, `layers: [{layer, before, after, removed}]` and `ratios`
 * (filters, params, MACs and latency, pruned / unpruned). At the end the
 * deployed unpruned and pruned models are timed again side by side
 * (alternating rounds), which is the `speed_up` reported (`speed_up:
 * {base_ms, pruned_ms, speed_up}`; ratios.speed_up takes it). `iterations.svg`
 * plots top-1 against the share of filters left.
 *
 * @example
 * ```sh
 * deno task run pipelines/filter_taylor.ts
 * deno task run pipelines/filter_taylor.ts --dataset fashion-mnist --data_dir /usr/share/datasets/fashion-mnist \
 *   --width 0.25 --speed_up 2.5 --round_to 4 --backend wasm
 * ```
 * @module
 */
import {
  accuracy,
  buildChannelGraph,
  compareLatency,
  countMacs,
  countParams,
  finetune,
  type FlagDefs,
  inferenceModel,
  latency,
  lineChartSVG,
  load,
  mask,
  type PipelineSpec,
  type RunContext,
  type RunEvent,
  runMain,
  saveModel,
  score,
  type Stage,
  stage,
  type tf,
  UsageError,
  writeFileAtomic,
} from "@shears/core";
import filterTaylor, { countFilters, defaultIterations, REFERENCE } from "@shears/filter_taylor";
import { concat, defer, EMPTY, type Observable } from "rxjs";
import {
  dataFlags,
  dataFrom,
  type ModelFlagDefs,
  modelFlags,
  modelFrom,
  paddedModelFrom,
  pretrain,
  trainFlags,
} from "./common.ts";

const modelDefaults: ModelFlagDefs = modelFlags("vgg11_bn", 0.125);

/** Flags of the filter_taylor pipeline. */
export const filterTaylorFlags = {
  ...modelDefaults,
  ...dataFlags,
  limit_train: {
    ...dataFlags.limit_train,
    default: 4000,
    help: "use at most this many training examples (a short default; pass 60000 for all)",
  },
  scorer: {
    type: "string",
    default: "taylor",
    choices: ["taylor", "l1"],
    help: "filter rank: taylor (mean a·g over one epoch) or l1 (filter L1 norm, Li et al.)",
  },
  per_example_abs: {
    type: "boolean",
    default: false,
    help: "taylor: |·| per example before averaging (the paper) instead of at the end (the seed)",
  },
  filters_per_iteration: {
    type: "int",
    min: 1,
    help:
      "filters removed per iteration (default: 512/4224 of the model's filters, the seed's share)",
  },
  iterations: {
    type: "int",
    min: 1,
    help:
      "pruning iterations (default: floor(floor(filters / N) * 2/3), the seed's ~2/3 of filters)",
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
    help: `fine-tune epochs after each iteration (the seed: ${REFERENCE.finetuneEpochs})`,
  },
  final_epochs: {
    type: "int",
    default: 2,
    min: 0,
    help: `fine-tune epochs after the last iteration (the seed: ${REFERENCE.finalEpochs})`,
  },
  lr: {
    type: "number",
    default: REFERENCE.lr,
    min: 0,
    minExclusive: true,
    help: "fine-tune SGD learning rate (momentum 0.9)",
  },
  batch_size: { ...trainFlags.batch_size, help: "batch size (scoring and fine-tuning)" },
  pretrain_epochs: trainFlags.pretrain_epochs,
  latency_batch: {
    type: "int",
    default: 64,
    min: 1,
    help: "batch size of the latency measurement (of the deployed model: BN folded, ReLU fused)",
  },
} satisfies FlagDefs;

type Flags = Parameters<PipelineSpec<typeof filterTaylorFlags>["build"]>[0];

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

const PLAN = "filter_taylor/plan";
const BASE_LAYERS = "filter_taylor/base_layers";
const BASE_DEPLOYED = "filter_taylor/base_deployed";

/** What the run resolved: N, the iteration count (or the speed-up target). */
interface Plan {
  perIteration: number;
  iterations?: number;
  speedUp?: number;
  totalFilters: number;
}

/** The smallest input side of the zoo's VGG builders. */
const VGG_MIN_SIDE = 32;

/**
 * A zoo model for the data; a VGG on inputs smaller than 32x32 (MNIST's
 * 28x28) zero-pads them to 32 after its input, as LeNet-5 pads MNIST to 32.
 */
function zooModel(f: Flags): (ctx: RunContext) => Promise<tf.LayersModel> {
  if (!f.model.startsWith("vgg")) return modelFrom(f);
  return paddedModelFrom(
    f,
    ([h, w, c]) => [Math.max(h, VGG_MIN_SIDE), Math.max(w, VGG_MIN_SIDE), c],
  );
}

/** Conv2D filter counts by layer name. */
function convFilters(model: tf.LayersModel): Map<string, number> {
  return new Map(
    model.layers.filter((l) => l.getClassName() === "Conv2D").map((l) => [
      l.name,
      (l.getConfig() as { filters: number }).filters,
    ]),
  );
}

/**
 * Measures ctx.model: "cut" starts the iteration's row with the top-1 right
 * after pruning; "full" fills in the last row (starting row 0 when there is
 * none) with everything, measured now.
 */
function measure(f: Flags, what: "cut" | "full"): Stage {
  return stage(`measure ${what}`, async (ctx, emit) => {
    const model = ctx.model!, rows = (ctx.report.iterations ??= []) as IterationRow[];
    const top1 = (await accuracy(model, ctx.data!, { split: "test", limit: f.limit_test })).top1;
    if (what === "cut") {
      const iteration = ctx.step.index + 1;
      rows.push({ iteration, top1_pruned: top1 } as IterationRow);
      emit.metric("top1_pruned", top1, iteration);
      return;
    }
    const row = rows.at(-1) ??
      rows[rows.push({ iteration: 0, top1_pruned: top1 } as IterationRow) - 1];
    const iteration = row.iteration;
    const dir = await Deno.makeTempDir({ prefix: "shears_size_" });
    try {
      row.bytes = (await saveModel(model, dir)).bytes;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    Object.assign(row, {
      filters: countFilters(buildChannelGraph(model)),
      params: (await countParams(model)).total,
      macs: countMacs(model),
      top1,
      latency_ms: await deployedLatency(model, f.latency_batch, iteration === 0 ? ctx : undefined),
    });
    for (const k of ["filters", "params", "macs", "bytes", "top1", "latency_ms"] as const) {
      emit.metric(k, row[k], iteration);
    }
    emit.log(
      `iteration ${iteration}: ${row.filters} filters, ${row.params} params, ${row.macs} MACs, ` +
        `top-1 ${pct(row.top1)}, ${row.latency_ms.toFixed(2)} ms / batch of ${f.latency_batch}`,
    );
  });
}

/**
 * Median latency of one batch through the deployed form of `model` (BN
 * folded, ReLU fused). With `keepIn`, the deployed model is kept in its state
 * for {@link speedUpStage} instead of being disposed.
 */
async function deployedLatency(
  model: tf.LayersModel,
  batchSize: number,
  keepIn?: RunContext,
): Promise<number> {
  const deployed = await inferenceModel(model);
  try {
    return await latency(deployed, { batchSize });
  } finally {
    if (keepIn) {
      (keepIn.state.get(BASE_DEPLOYED) as tf.LayersModel | undefined)?.dispose();
      keepIn.state.set(BASE_DEPLOYED, deployed);
    } else deployed.dispose();
  }
}

/** The speed-up measured side by side at the end, in report.json as `speed_up`. */
export interface SpeedUp {
  base_ms: number;
  pruned_ms: number;
  speed_up: number;
  batch: number;
  rounds: number;
}

/**
 * Times the deployed unpruned and pruned models side by side (alternating
 * rounds, {@link compareLatency}): the per-iteration latencies are taken
 * minutes apart, and load on a shared machine moves them by more than the
 * effect. Skipped when the base was not measured in this process (a resume).
 */
function speedUpStage(f: Flags): Stage {
  return stage("speed-up", async (ctx, emit) => {
    const base = ctx.state.get(BASE_DEPLOYED) as tf.LayersModel | undefined;
    if (!base) return;
    ctx.state.delete(BASE_DEPLOYED);
    const pruned = await inferenceModel(ctx.model!);
    try {
      const rounds = 5;
      const { ms, speedUp } = await compareLatency([base, pruned], {
        batchSize: f.latency_batch,
        rounds,
      });
      const s: SpeedUp = {
        base_ms: ms[0],
        pruned_ms: ms[1],
        speed_up: speedUp[1],
        batch: f.latency_batch,
        rounds,
      };
      ctx.report.speed_up = s;
      emit.metric("speed_up", s.speed_up);
      emit.log(
        `side by side: ${s.base_ms.toFixed(2)} -> ${s.pruned_ms.toFixed(2)} ms ` +
          `(x${s.speed_up.toFixed(2)})`,
      );
    } finally {
      base.dispose();
      pruned.dispose();
    }
  });
}

/** Resolves N and the iteration count from the unpruned model; remembers its conv layers. */
function planStage(f: Flags): Stage {
  return stage("plan", (ctx, emit) => {
    const totalFilters = countFilters(buildChannelGraph(ctx.model!));
    if (totalFilters === 0) {
      throw new UsageError(`model ${ctx.model!.name} has no prunable conv filters`);
    }
    const perIteration = f.filters_per_iteration ??
      Math.max(1, Math.round(totalFilters * REFERENCE.filtersPerIteration / 4224));
    const plan: Plan = { perIteration, totalFilters, speedUp: f.speed_up };
    if (!f.speed_up) {
      plan.iterations = f.iterations ?? defaultIterations(totalFilters, perIteration);
      if (plan.iterations < 1) {
        throw new UsageError(
          `--filters_per_iteration ${perIteration} gives 0 iterations for ${totalFilters} filters ` +
            `(the seed's formula needs N <= ${
              Math.floor(totalFilters / 2)
            }); lower it or pass --iterations`,
        );
      }
    }
    ctx.state.set(PLAN, plan);
    ctx.state.set(BASE_LAYERS, convFilters(ctx.model!));
    emit.log(
      `${totalFilters} filters; ${perIteration} per iteration, ` +
        (plan.iterations
          ? `${plan.iterations} iterations`
          : `until MACs speed-up >= ${f.speed_up}`),
    );
  });
}

const FINETUNE = (f: Flags, epochs: number) =>
  finetune({
    epochs,
    batchSize: f.batch_size,
    optimizer: { kind: "sgd", lr: f.lr, momentum: REFERENCE.momentum },
    augment: false,
    seed: f.seed,
    evalLimit: f.limit_test,
  });

/** Whether the pruning loop is done after the iteration just finished. */
function done(ctx: RunContext, i: number): boolean {
  const plan = ctx.state.get(PLAN) as Plan;
  if (plan.iterations !== undefined) return i + 1 >= plan.iterations;
  const rows = ctx.report.iterations as IterationRow[];
  if (rows[0].macs / rows.at(-1)!.macs >= plan.speedUp!) return true;
  const pruning = ctx.report.pruning as { kept: number; total: number }[];
  const last = pruning.at(-1)!;
  return last.kept === last.total; // nothing left to remove
}

/** score -> prune -> measure -> fine-tune -> measure, until {@link done}. */
function pruneLoop(f: Flags): Stage {
  const scorer = `filter_taylor/${f.scorer}`;
  const block = [
    score({
      scorer,
      batchSize: f.batch_size,
      options: f.scorer === "taylor" ? { per_example_abs: f.per_example_abs } : {},
    }),
    mask({
      pruner: "filter_taylor/global_lowest",
      scores: scorer,
      budget: (ctx) => ({ remove: (ctx.state.get(PLAN) as Plan).perIteration }),
      options: { round_to: f.round_to },
    }),
    measure(f, "cut"),
    ...(f.finetune_epochs ? [FINETUNE(f, f.finetune_epochs)] : []),
    measure(f, "full"),
  ];
  const iterate = (ctx: RunContext, i: number): Observable<RunEvent> =>
    defer(() => {
      const plan = ctx.state.get(PLAN) as Plan;
      ctx.step = { index: i, total: plan.iterations ?? i + 1 };
      return concat(
        ...block.map((s) => defer(() => s.run(ctx))),
        defer(() => (done(ctx, i) ? EMPTY : iterate(ctx, i + 1))),
      );
    });
  return { name: "prune iterations", run: (ctx) => iterate(ctx, 0) };
}

/** The final fine-tune; the last row is measured again after it (its numbers before go to report.before_final). */
function finalStages(f: Flags): Stage[] {
  if (!f.final_epochs) return [];
  return [
    FINETUNE(f, f.final_epochs),
    stage("final", (ctx) => {
      const rows = ctx.report.iterations as IterationRow[];
      ctx.report.before_final = { ...rows.at(-1)! };
    }),
    measure(f, "full"),
  ];
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const ratio = (a: number, b: number) => (b ? a / b : NaN);

/** The filter_taylor pipeline. */
export const filterTaylorPipeline: PipelineSpec<typeof filterTaylorFlags> = {
  name: "filter_taylor",
  description:
    "Iterative Taylor filter pruning (Molchanov et al. 2016): rank filters over an epoch, remove " +
    "the globally lowest for real, fine-tune, repeat.",
  flags: filterTaylorFlags,
  plugins: [filterTaylor],
  build(f) {
    if (f.speed_up && f.iterations) {
      throw new UsageError("--speed_up and --iterations are alternatives; pass one");
    }
    return [
      load({ data: dataFrom(f, f.seed), model: zooModel(f) }),
      planStage(f),
      pretrain("model", () => !f.path, {
        epochs: f.pretrain_epochs,
        batchSize: f.batch_size,
        seed: f.seed,
      }),
      measure(f, "full"),
      pruneLoop(f),
      ...finalStages(f),
      speedUpStage(f),
      plotStage(),
    ];
  },
  summarize(ctx, f) {
    const rows = ctx.report.iterations as IterationRow[];
    const [base, last] = [rows[0], rows.at(-1)!];
    const side = ctx.report.speed_up as SpeedUp | undefined;
    const before = ctx.state.get(BASE_LAYERS) as Map<string, number>;
    const after = convFilters(ctx.model!);
    const layers: LayerRow[] = [...before].map(([layer, n]) => ({
      layer,
      before: n,
      after: after.get(layer) ?? 0,
      removed: n - (after.get(layer) ?? 0),
    }));
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
      } -> ${(side?.pruned_ms ?? last.latency_ms).toFixed(2)} ms (x${
        ratios.speed_up.toFixed(2)
      } speed-up${side ? ", side by side" : ""}; x${
        (ratios.speed_up / ratios.mac_reduction).toFixed(2)
      } of the MAC reduction)`,
    ];
  },
};

/** iterations.svg: top-1 (after fine-tune) against the share of filters left. */
function plotStage(): Stage {
  return stage("plot", async (ctx, emit) => {
    if (!ctx.runDir) return;
    const rows = ctx.report.iterations as IterationRow[];
    const svg = await lineChartSVG({
      title: `${ctx.model!.name} on ${ctx.data!.name}: top-1 per pruning iteration`,
      xLabel: "filters left (share of the original)",
      yLabel: "top-1",
      series: [
        { name: "after fine-tune", points: rows.map((r) => [r.filters / rows[0].filters, r.top1]) },
        {
          name: "right after the cut",
          points: rows.map((r) => [r.filters / rows[0].filters, r.top1_pruned]),
        },
      ],
    });
    const path = `${ctx.runDir}/iterations.svg`;
    await writeFileAtomic(path, svg);
    emit.artifact("plot", path);
  });
}

if (import.meta.main) runMain(filterTaylorPipeline);
