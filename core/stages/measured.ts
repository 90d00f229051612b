/**
 * Iterated prunes measured as they go, two ways, both run to a budget (see
 * ./until.ts), ending with the deployed unpruned and pruned models timed side
 * by side (report `speed_up`) and the report.json `iterations` rows charted
 * into iterations.svg:
 *
 * - {@link measuredIterations} (the protocol of Molchanov et al.'s filter
 *   pruning): the model is measured as deployed (params, MACs, bytes,
 *   deployed latency, top-1, a count of its units) into a row before pruning
 *   (row 0) and after each iteration, whose row also holds the top-1 right
 *   after its cut; a final fine-tune is measured into the last row again.
 * - {@link beforeAfterPrune}: the model is measured as deployed before and
 *   after (report `before`, `after`; {@link beforeAfterTable}), each step
 *   evaluated into a row (units kept, top-1, params, MACs, active ReLUs).
 * @module
 */
import type { tf } from "../tf.ts";
import { pct } from "../format.ts";
import { type RunContext, type Stage, stage, when } from "../pipeline.ts";
import { compareDeployed, evaluate, type Evaluation, evaluation } from "./evaluate.ts";
import { lastPruning } from "./mask.ts";
import { chart, type ChartSpec } from "./plot.ts";
import { record, reportRows } from "./record.ts";
import { iterateToBudget, type MacGoal } from "./until.ts";

/** The budget and the batch of the deployed latency, for both kinds of measured prune. */
export interface MeasuredLoopSpec {
  /** Stage name of the loop, e.g. "prune iterations". */
  name: string;
  /** Iterations; with `macs`, at most this many. */
  iterations?: number;
  /** A MAC target given the MACs before the prune (e.g. `--speed_up`'s), or none. */
  macs?: (base: (ctx: RunContext) => number) => MacGoal | undefined;
  /** Batch of the deployed latency. */
  latencyBatch: number;
}

/** The skeleton: measure, loop to the budget, measure, time side by side, chart. */
function measuredLoop<R>(
  spec: MeasuredLoopSpec,
  base: (ctx: RunContext) => number,
  parts: { before: Stage[]; each: Stage[]; after: Stage[]; chart: Omit<ChartSpec<R>, "rows"> },
): Stage[] {
  return [
    ...parts.before,
    ...iterateToBudget({
      name: spec.name,
      iterations: spec.iterations,
      macs: spec.macs?.(base),
      stages: parts.each,
    }),
    ...parts.after,
    compareDeployed({ base: "base", batchSize: spec.latencyBatch }),
    chart<R>({ rows: "iterations", ...parts.chart }),
  ];
}

/** A row of report.json `iterations` that {@link measuredIterations} writes, plus its unit count. */
export interface MeasuredRow {
  /** 0: the unpruned model. */
  iteration: number;
  params: number;
  macs: number;
  /** The saved model's bytes. */
  bytes: number;
  top1: number;
  /** Top-1 right after the cut, before the iteration's fine-tune (iteration 0: = top1). */
  top1_pruned: number;
  /** Median deployed latency of a batch (ms). */
  latency_ms: number;
}

/** What {@link measuredIterations} runs. */
export interface MeasuredIterationsSpec extends MeasuredLoopSpec {
  /** An iteration's cut, e.g. score and mask; its top-1 is taken right after. */
  cut: Stage[];
  /** What follows the cut in each iteration, e.g. a fine-tune. */
  tune?: Stage[];
  /** What follows the last iteration, e.g. a longer fine-tune (report `before_final`: the row before it). */
  final?: Stage[];
  /** The units counted in each row: their name (e.g. "filters") and the model's count. */
  units: [string, (model: tf.LayersModel) => number];
}

/**
 * An iterated prune measured as deployed at every iteration (see the module
 * doc); the chart plots top-1 after each fine-tune and right after each cut
 * against the share of the units left.
 *
 * @example
 * ```ts
 * measuredIterations({
 *   name: "prune iterations", iterations: 5, latencyBatch: 64,
 *   units: ["filters", (m) => channelCount(m, "conv")],
 *   cut: [score({ scorer: "filter_taylor/l1", groups: "conv" }),
 *     mask({ pruner: "filter_taylor/global_lowest", scores: "filter_taylor/l1", budget: { remove: 8 } })],
 *   tune: [finetune({ epochs: 1 })],
 * });
 * ```
 */
export function measuredIterations(spec: MeasuredIterationsSpec): Stage[] {
  type Row = MeasuredRow & Record<string, number>;
  const [unit, count] = spec.units;
  const rowsOf = (ctx: RunContext) => reportRows<Row>(ctx, "iterations");
  const share = (r: Row, rows: Row[]) => r[unit] / rows[0][unit];
  const measure = () => [
    evaluate({
      name: "full",
      bytes: true,
      latency: "deployed",
      latencyBatch: spec.latencyBatch,
      keepDeployed: (ctx) => (rowsOf(ctx).length ? undefined : "base"),
      log: () => "",
    }),
    record<Row>({
      key: "iterations",
      merge: true,
      row: (ctx, rows) => ({
        ...(rows.length ? {} : { iteration: 0, top1_pruned: evaluation(ctx, "full").top1 }),
        [unit]: count(ctx.model!),
      }),
      from: { evaluation: "full", fields: ["params", "macs", "bytes", "top1", "latency_ms"] },
      metrics: [unit, "params", "macs", "bytes", "top1", "latency_ms"],
      step: (r) => r.iteration,
      log: (r) =>
        `iteration ${r.iteration}: ${r[unit]} ${unit}, ${r.params} params, ${r.macs} MACs, ` +
        `top-1 ${pct(r.top1)}, ${r.latency_ms.toFixed(2)} ms / batch of ${spec.latencyBatch}`,
    }),
  ];
  return measuredLoop<Row>(spec, (ctx) => rowsOf(ctx)[0].macs, {
    before: measure(),
    each: [
      ...spec.cut,
      evaluate({ name: "cut", accuracyOnly: true }),
      record<Row>({
        name: "record cut",
        key: "iterations",
        row: (ctx) => ({ iteration: ctx.step.index + 1, top1_pruned: evaluation(ctx, "cut").top1 }),
        metrics: ["top1_pruned"],
        step: (r) => r.iteration,
      }),
      ...spec.tune ?? [],
      ...measure(),
    ],
    after: when(
      spec.final?.length,
      ...spec.final ?? [],
      stage("final", (ctx) => void (ctx.report.before_final = { ...rowsOf(ctx).at(-1)! })),
      ...measure(),
    ),
    chart: {
      title: (ctx) => `${ctx.model!.name} on ${ctx.data!.name}: top-1 per pruning iteration`,
      xLabel: `${unit} left (share of the original)`,
      lines: [
        { name: "after fine-tune", x: share, y: (r) => r.top1 },
        { name: "right after the cut", x: share, y: (r) => r.top1_pruned },
      ],
    },
  });
}

/**
 * The rows {@link measuredIterations} wrote as a table: its header and its
 * cells (top-1 as percentages, latency in ms with two decimals), `unit` the
 * count.
 *
 * @example
 * ```ts
 * const [header, cells] = measuredTable(reportRows(ctx, "iterations"), "filters");
 * ```
 */
export function measuredTable<U extends string>(
  rows: (MeasuredRow & Record<U, number>)[],
  unit: U,
): [string[], (string | number)[][]] {
  return [
    ["iter", unit, "params", "MACs", "bytes", "pruned", "top-1", "latency ms"],
    rows.map((r) => [
      r.iteration,
      r[unit],
      r.params,
      r.macs,
      r.bytes,
      pct(r.top1_pruned),
      pct(r.top1),
      r.latency_ms.toFixed(2),
    ]),
  ];
}

/** The numbers of a step's evaluation that {@link beforeAfterPrune} puts in its row. */
const STEP = ["top1", "params", "nonzero_params", "macs", "relus_active"] as const;

/** A row of report.json `iterations` that {@link beforeAfterPrune} writes. */
export interface StepRow extends Pick<Evaluation, (typeof STEP)[number]> {
  /** From 1. */
  iteration: number;
  /** Units the step's prune kept, of `total` (the last `mask`'s counts). */
  kept: number;
  total: number;
}

/** What {@link beforeAfterPrune} runs. */
export interface BeforeAfterPruneSpec extends MeasuredLoopSpec {
  /** A step: e.g. score, mask, fine-tune. */
  stages: Stage[];
  /** What the units are, for the step's log line (e.g. "channels"). */
  units: string;
  /** The chart's: its title after "<model> on <data>: ", and the name of its line. */
  chart: { title: string; line: string };
}

/**
 * An iterated prune measured as deployed before and after (see the module
 * doc); the chart plots top-1 per step, from the `before` one.
 *
 * @example
 * ```ts
 * beforeAfterPrune({
 *   name: "prune steps", iterations: 3, latencyBatch: 32, units: "weights",
 *   stages: [score({ scorer: "magnitude/abs" }),
 *     mask({ pruner: "magnitude/global", scores: "magnitude/abs", budget: { keepRatio: 0.8 } })],
 *   chart: { title: "magnitude/abs", line: "no fine-tuning" },
 * });
 * ```
 */
export function beforeAfterPrune(spec: BeforeAfterPruneSpec): Stage[] {
  const deployed = { bytes: true, latency: "deployed", latencyBatch: spec.latencyBatch } as const;
  return measuredLoop<StepRow>(spec, (ctx) => evaluation(ctx, "before").macs, {
    before: [evaluate({ name: "before", ...deployed, keepDeployed: () => "base" })],
    each: [
      ...spec.stages,
      evaluate({ name: "step" }),
      record<StepRow>({
        key: "iterations",
        row: (ctx) => {
          const { kept, total } = lastPruning(ctx);
          return { iteration: ctx.step.index + 1, kept, total };
        },
        from: { evaluation: "step", fields: [...STEP] },
        log: (r) =>
          `step ${r.iteration}: kept ${r.kept} of ${r.total} ${spec.units}, top-1 ${pct(r.top1)}`,
      }),
    ],
    after: [evaluate({ name: "after", ...deployed })],
    chart: {
      title: (ctx) => `${ctx.model!.name} on ${ctx.data!.name}: ${spec.chart.title}`,
      xLabel: "steps",
      lead: (ctx) => ({ iteration: 0, top1: evaluation(ctx, "before").top1 }) as StepRow,
      lines: [{ name: spec.chart.line, x: (r) => r.iteration, y: (r) => r.top1 }],
    },
  });
}

/**
 * What {@link beforeAfterPrune} measured before and after, as a table: its
 * header and its rows (top-1 as percentages; params, MACs, active ReLUs and
 * bytes), the first column the labels. Latency is not a row: the side-by-side
 * timing (report `speed_up`, {@link compareDeployed}) is the one to quote;
 * the before and after evaluations timed once each, at different moments,
 * and on a loaded machine they can even disagree on which model is faster.
 *
 * @example
 * ```ts
 * const [header, cells] = beforeAfterTable(ctx);
 * ```
 */
export function beforeAfterTable(ctx: RunContext): [string[], (string | number)[][]] {
  const [b, a] = ["before", "after"].map((n) => evaluation(ctx, n) as Required<Evaluation>);
  const keys = ["params", "nonzero_params", "macs", "relus_active", "bytes"] as const;
  return [
    ["", "before", "after"],
    [
      ["top-1", pct(b.top1), pct(a.top1)],
      ...keys.map((k) => [k, +b[k].toFixed(2), +a[k].toFixed(2)]),
    ],
  ];
}
