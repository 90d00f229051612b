/**
 * core's report-row stages: record (a row added or the last one completed
 * from the report, its metrics at the row's step, its log line), chart (the
 * rows as an SVG line chart, one set of lines per `by` value, a lead row
 * first) and untilBudget (the stopping rule of an iterated prune: after N
 * iterations, or once the model's MACs are within the budget or the last
 * prune kept everything).
 */
import { lastValueFrom, toArray } from "rxjs";
import {
  chart,
  countMacs,
  evaluation,
  lastPruning,
  pct,
  pipeline,
  record,
  reportRows,
  type RunEvent,
  tf,
  untilBudget,
  when,
} from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal, match, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { withTempDir } from "../pipelines/test_harness.ts";

await useTestBackend();

interface Row {
  iteration: number;
  top1?: number;
  cut?: number;
}

Deno.test("record: new rows, the last one completed (the first made), metrics at the row's step, log", async () => {
  const ctx = testContext();
  ctx.report.eval = { top1: 0.9 };
  const full = record<Row>({
    key: "rows",
    merge: true,
    row: (c, rows) => ({
      ...(rows.length ? {} : { iteration: 0 }),
      top1: (c.report.eval as { top1: number }).top1,
    }),
    metrics: ["top1"],
    step: (r) => r.iteration,
    log: (r) => `iteration ${r.iteration}: ${r.top1}`,
  });
  const cut = record<Row>({
    name: "cut",
    key: "rows",
    row: (c) => ({ iteration: c.step.index + 1, cut: 0.5 }),
    metrics: (r) => ({ [`cut_${r.iteration}`]: r.cut! }),
  });
  const events: RunEvent[] = await lastValueFrom(pipeline(full, cut, full)(ctx).pipe(toArray()));
  deepEqual(reportRows<Row>(ctx, "rows"), [
    { iteration: 0, top1: 0.9 },
    { iteration: 1, cut: 0.5, top1: 0.9 },
  ]);
  const metrics = events.filter((e) => e.type === "metric").map((e) =>
    e.type === "metric" ? [e.stage, e.name, e.value, e.step] : []
  );
  deepEqual(metrics, [
    ["record", "top1", 0.9, 0],
    ["cut", "cut_1", 0.5, undefined],
    ["record", "top1", 0.9, 1],
  ]);
  const logs = events.flatMap((e) => (e.type === "log" ? [e.message] : []));
  deepEqual(logs, ["iteration 0: 0.9", "iteration 1: 0.9"]);
});

Deno.test("chart: the report's rows as lines, one set per `by` value, the lead row first", () =>
  withTempDir(async (dir) => {
    const ctx = testContext({ runDir: dir });
    ctx.report.rows = [
      { g: "a", x: 1, y: 0.25 },
      { g: "b", x: 1, y: 0.5 },
      { g: "a", x: 2, y: 0.75 },
    ];
    await lastValueFrom(
      pipeline(
        chart<{ g: string; x: number; y: number }>({
          file: "c.svg",
          rows: "rows",
          title: () => "the title",
          xLabel: "ex",
          yLabel: "why",
          by: (r) => `group ${r.g}`,
          lead: () => ({ g: "a", x: 0, y: 0.125 }),
          lines: [{ name: "top", x: (r) => r.x, y: (r) => r.y }],
        }),
      )(ctx).pipe(toArray()),
    );
    const svg = await Deno.readTextFile(`${dir}/c.svg`);
    match(svg, /^<svg/);
    for (const s of ["the title", "ex", "why", "group a top", "group b top"]) {
      ok(svg.includes(s), `the chart shows '${s}'`);
    }
    // a point mark per row (vega labels each mark, and each line by its first point, for aria)
    const labels = svg.matchAll(/aria-label="ex: (\d); why: ([\d.]+); series: ([^"]+)"/g);
    const points = [...new Set([...labels].map((m) => `${m[3]} ${m[1]} ${m[2]}`))].sort();
    deepEqual(points, [
      "group a top 0 0.125",
      "group a top 1 0.25",
      "group a top 2 0.75",
      "group b top 1 0.5",
    ]);
  }));

Deno.test("untilBudget: N iterations; MACs within the budget; a prune that kept everything", () => {
  const input = tf.input({ shape: [4] });
  const out = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const macs = countMacs(model);
  ok(macs > 0, `the model has MACs: ${macs}`);
  const ctx = testContext({ model });
  const three = untilBudget({ iterations: 3 });
  deepEqual([0, 1, 2].map((i) => three(ctx, i)), [false, false, true]);
  equal(untilBudget({})(ctx, 0), true, "no budget: one iteration");
  const within = untilBudget({ maxMacs: () => macs });
  const above = untilBudget({ maxMacs: () => macs - 1, iterations: 5 });
  equal(within(ctx, 0), true, "at the MAC budget");
  equal(above(ctx, 0), false, "above it, no prune recorded");
  ctx.report.pruning = [{ step: 1, pruner: "p", kept: 5, total: 6, perLayer: [] }];
  equal(above(ctx, 1), false, "above it, the last prune removed some");
  equal(above(ctx, 4), true, "the iterations are a cap");
  ctx.report.pruning = [{ step: 1, pruner: "p", kept: 6, total: 6, perLayer: [] }];
  equal(above(ctx, 1), true, "the last prune could remove nothing");
  model.dispose();
});

Deno.test("when, evaluation, lastPruning: optional stages; the report's last numbers or an error", () => {
  const ctx = testContext();
  const a = record<Row>({ key: "rows", row: () => ({ iteration: 1 }) });
  deepEqual(when(0, a), []);
  deepEqual(when(true, a, a), [a, a]);
  throws(() => evaluation(ctx, "pruned"), /no evaluation 'pruned'/);
  throws(() => lastPruning(ctx), /no pruning/);
  ctx.report.pruned = { top1: 0.5 };
  ctx.report.pruning = [{ kept: 1, total: 4 }, { kept: 2, total: 4 }];
  equal(evaluation(ctx, "pruned").top1, 0.5);
  equal(lastPruning(ctx).kept, 2);
  equal(pct(0.1234), "12.34%");
});
