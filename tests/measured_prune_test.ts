/**
 * The measured-prune stages and what they are made of: iterateToBudget (a
 * budgeted loop, then the MAC target checked), score's `groups` by kind,
 * record's `from` (an evaluation's numbers in a row), chart's defaults,
 * measuredIterations (filter_taylor: a deployed measurement per iteration)
 * and beforeAfterPrune (prune.ts: deployed before and after, a row per step)
 * with their tables; and pipelines/common.ts's macGoal and reportReduction.
 */
import { lastValueFrom, toArray } from "rxjs";
import {
  beforeAfterPrune,
  beforeAfterTable,
  chart,
  countMacs,
  iterateToBudget,
  mask,
  measuredIterations,
  type MeasuredRow,
  measuredTable,
  pipeline,
  prunableGroups,
  record,
  reportRows,
  type RunContext,
  type RunEvent,
  score,
  type Stage,
  stage,
  tf,
} from "@shears/core";
import filterTaylor from "@shears/filter_taylor";
import { syntheticDataset } from "@shears/datasets";
import { macGoal, reportReduction } from "../pipelines/common.ts";
import { testContext } from "./context.ts";
import { deepEqual, equal, match, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { withTempDir } from "../pipelines/test_harness.ts";

await useTestBackend();

/** conv(4) -> conv(4) -> GAP -> dense(6) -> dense(4) on 8x8x3 images. */
function convNet(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "relu" })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "relu" })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 6, activation: "relu" }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** A context over convNet() and small synthetic data, filter_taylor's parts registered. */
const contextFor = (runDir?: string) =>
  testContext({
    model: convNet(),
    data: syntheticDataset({ n: 8, nTest: 8, inputShape: [8, 8, 3], numClasses: 4 }),
    plugins: [filterTaylor],
    runDir,
  });

/** Disposes the run's model and scores (what the runner frees at the end of a run). */
const done = (ctx: RunContext) => {
  ctx.scores.forEach((s) => s.values.forEach((t) => t.dispose()));
  ctx.model!.dispose();
};
const run = async (ctx: RunContext, ...stages: Stage[]) =>
  await lastValueFrom(pipeline(...stages)(ctx).pipe(toArray()));
const logs = (events: RunEvent[]) => events.flatMap((e) => (e.type === "log" ? [e.message] : []));

/** One filter of the conv filters removed, by L1 norm. */
const cut = () => [
  score({ scorer: "filter_taylor/l1", groups: "conv" }),
  mask({
    pruner: "filter_taylor/global_lowest",
    scores: "filter_taylor/l1",
    budget: { remove: 1 },
  }),
];

Deno.test("score: `groups` by kind scores the model's prunable groups of that kind as it is", async () => {
  const ctx = contextFor();
  const conv = prunableGroups(ctx.model!, "conv").map((g) => g.id);
  const all = prunableGroups(ctx.model!, "all").map((g) => g.id);
  ok(all.length > conv.length && conv.length === 2, `${conv} of ${all}`);
  await run(ctx, score({ scorer: "filter_taylor/l1", groups: "conv" }));
  deepEqual([...ctx.scores.get("filter_taylor/l1")!.values.keys()], conv);
  await run(ctx, score({ scorer: "filter_taylor/l1", groups: "all" }));
  deepEqual([...ctx.scores.get("filter_taylor/l1")!.values.keys()], all);
  done(ctx);
});

Deno.test("iterateToBudget: N iterations, or until the MAC goal; the target stage says which", async () => {
  const ctx = testContext({ model: convNet() });
  const macs = countMacs(ctx.model!);
  let n = 0;
  const count = stage("count", () => void n++);
  const goal = (g: number) => ({ flag: "--speed_up 2", base: () => macs, goal: () => g });
  let events = await run(ctx, ...iterateToBudget({ name: "loop", stages: [count], iterations: 3 }));
  equal(n, 3);
  equal(ctx.report.target_reached, undefined, "no MAC goal: nothing checked");
  n = 0;
  events = await run(ctx, ...iterateToBudget({ name: "loop", stages: [count], macs: goal(macs) }));
  equal(n, 1, "within the goal after the first iteration");
  equal(ctx.report.target_reached, true);
  deepEqual(logs(events), []);
  n = 0;
  const short = goal(macs / 2);
  events = await run(
    ctx,
    ...iterateToBudget({ name: "l", stages: [count], iterations: 2, macs: short }),
  );
  equal(n, 2, "the iterations cap a MAC goal");
  equal(ctx.report.target_reached, false);
  deepEqual(logs(events), [
    `--speed_up 2 not reached: the pruning stopped at x1.00 fewer MACs (${macs} -> ${macs}; ` +
    `the target needs <= ${Math.floor(macs / 2)})`,
  ]);
  ctx.model!.dispose();
});

Deno.test("record `from`: the row takes the evaluation's numbers after its own fields", async () => {
  const ctx = testContext();
  ctx.report.step = { top1: 0.5, macs: 10, params: 3 };
  await run(
    ctx,
    record<{ i: number; top1: number; macs: number }>({
      key: "rows",
      row: () => ({ i: 1, top1: 0 }),
      from: { evaluation: "step", fields: ["top1", "macs"] },
    }),
  );
  deepEqual(reportRows(ctx, "rows"), [{ i: 1, top1: 0.5, macs: 10 }]);
  deepEqual(Object.keys(reportRows<object>(ctx, "rows")[0]), ["i", "top1", "macs"]);
});

Deno.test("chart: the file is <rows>.svg and the y axis top-1 unless said", () =>
  withTempDir(async (dir) => {
    const ctx = testContext({ runDir: dir });
    ctx.report.sweep = [{ x: 1, y: 0.5 }, { x: 2, y: 0.25 }];
    await run(
      ctx,
      chart<{ x: number; y: number }>({
        rows: "sweep",
        title: () => "t",
        xLabel: "ex",
        lines: [{ name: "l", x: (r) => r.x, y: (r) => r.y }],
      }),
    );
    const svg = await Deno.readTextFile(`${dir}/sweep.svg`);
    ok(svg.includes("top-1"), "the y axis is top-1");
  }));

Deno.test("measuredIterations: row 0, a measured row per iteration, the final one, side by side", () =>
  withTempDir(async (dir) => {
    const before = tf.memory().numTensors;
    const ctx = contextFor(dir);
    const filters = (m: tf.LayersModel) =>
      prunableGroups(m, "conv").reduce((s, g) => s + g.size, 0);
    let finals = 0;
    const events = await run(
      ctx,
      ...measuredIterations({
        name: "prune iterations",
        iterations: 2,
        latencyBatch: 2,
        units: ["filters", filters],
        cut: cut(),
        final: [stage("final tune", () => void finals++)],
      }),
    );
    type Row = MeasuredRow & { filters: number };
    const rows = reportRows<Row>(ctx, "iterations");
    deepEqual(rows.map((r) => [r.iteration, r.filters]), [[0, 8], [1, 7], [2, 6]]);
    deepEqual(Object.keys(rows[1]), [
      "iteration",
      "top1_pruned",
      "filters",
      "params",
      "macs",
      "bytes",
      "top1",
      "latency_ms",
    ]);
    equal(rows[0].top1_pruned, rows[0].top1);
    ok(rows[2].macs < rows[1].macs && rows[1].macs < rows[0].macs, "MACs fall");
    ok(rows.every((r) => r.bytes > 0 && r.latency_ms > 0), "bytes and deployed latency");
    equal(finals, 1);
    equal((ctx.report.before_final as Row).iteration, 2, "the last row before the final stages");
    ok((ctx.report.speed_up as { speed_up: number }).speed_up > 0, "timed side by side");
    ok((await Deno.stat(`${dir}/iterations.svg`)).isFile);
    match(logs(events)[0], /^iteration 0: 8 filters, \d+ params, \d+ MACs, top-1 [\d.]+%, /);
    const [header, cells] = measuredTable(rows, "filters");
    deepEqual(header, [
      "iter",
      "filters",
      "params",
      "MACs",
      "bytes",
      "pruned",
      "top-1",
      "latency ms",
    ]);
    deepEqual(cells[2].slice(0, 2), [2, 6]);
    match(String(cells[2][6]), /^\d+\.\d\d%$/);
    done(ctx);
    equal(tf.memory().numTensors, before, "no tensors left");
  }));

Deno.test("beforeAfterPrune: deployed before and after, a row per step, the MAC goal checked", () =>
  withTempDir(async (dir) => {
    const before = tf.memory().numTensors;
    const ctx = contextFor(dir);
    const events = await run(
      ctx,
      ...beforeAfterPrune({
        name: "prune steps",
        iterations: 2,
        macs: (base) => ({ flag: "--target_macs 1", base, goal: () => 1 }),
        latencyBatch: 2,
        units: "channels",
        stages: cut(),
        chart: { title: "l1", line: "no fine-tuning" },
      }),
    );
    const rows = reportRows<Record<string, number>>(ctx, "iterations");
    deepEqual(rows.map((r) => [r.iteration, r.kept, r.total]), [[1, 7, 8], [2, 6, 7]]);
    deepEqual(Object.keys(rows[0]), [
      "iteration",
      "kept",
      "total",
      "top1",
      "params",
      "nonzero_params",
      "macs",
      "relus_active",
    ]);
    const [b, a] = [ctx.report.before, ctx.report.after] as { macs: number; bytes: number }[];
    ok(a.macs < b.macs && a.bytes > 0 && b.bytes > 0, "measured as deployed before and after");
    equal(ctx.report.target_reached, false);
    ok(logs(events).some((l) => l.startsWith("--target_macs 1 not reached")));
    match(
      logs(events).find((l) => l.startsWith("step 1"))!,
      /^step 1: kept 7 of 8 channels, top-1/,
    );
    ok((await Deno.stat(`${dir}/iterations.svg`)).isFile);
    const [header, table] = beforeAfterTable(ctx);
    deepEqual(header, ["", "before", "after"]);
    deepEqual(table.map((r) => r[0]), [
      "top-1",
      "params",
      "nonzero_params",
      "macs",
      "relus_active",
      "bytes",
    ]);
    deepEqual(table[3].slice(1), [b.macs, a.macs]);
    done(ctx);
    equal(tf.memory().numTensors, before, "no tensors left");
  }));

Deno.test("macGoal and reportReduction: the speed-up flags' goal; ratios and top-1s into the report", () => {
  const ctx = testContext();
  const base = () => 1000;
  equal(macGoal({}, base), undefined);
  const x = macGoal({ speed_up: 4 }, base)!;
  deepEqual([x.flag, x.goal(1000)], ["--speed_up 4", 250]);
  const n = macGoal({ target_macs: 300 }, base)!;
  deepEqual([n.flag, n.goal(1000)], ["--target_macs 300", 300]);
  const b = { params: 100, macs: 1000, top1: 0.9, latency_ms: 4 };
  const a = { params: 50, macs: 250, top1: 0.8, latency_ms: 2 };
  let lines = reportReduction(ctx, b, a, ["filters", 10, 5]);
  const ratios = ctx.report.ratios as Record<string, number>;
  deepEqual([ratios.filters, ratios.params, ratios.macs, ratios.mac_reduction], [
    0.5,
    0.5,
    0.25,
    4,
  ]);
  equal(ratios.speed_up, 2, "before / after latency without a side-by-side timing");
  deepEqual([ctx.report.top1_before, ctx.report.top1_after], [0.9, 0.8]);
  match(
    lines[0],
    /^filters 50\.00% of the original, params 50\.00%, MACs 25\.00% \(x4\.00 fewer\)$/,
  );
  ctx.report.speed_up = { base_ms: 5, pruned_ms: 2, speed_up: 3, batch: 1, rounds: 5 };
  lines = reportReduction(ctx, b, a);
  equal((ctx.report.ratios as Record<string, number>).speed_up, 3, "the side-by-side speed-up");
  match(lines[1], /latency 5\.00 -> 2\.00 ms \(x3\.00 speed-up, side by side; x0\.75 of the MAC/);
});
