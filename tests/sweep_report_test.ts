/**
 * The gathered report of a sweep: metrics read from each point's
 * report.json by path, grouped over the seeds (mean, sample standard
 * deviation), tabulated per metric, failures listed, and the main metric
 * plotted against the numeric axis with error bars of one standard
 * deviation. The point directories are written here as a run leaves them
 * (report.json, point.json), with numbers chosen so every statistic is
 * known.
 */
import {
  gather,
  plotsOf,
  pointDir,
  resolveSpec,
  type Sweep,
  writeSweepReport,
} from "@shears/sweep";
import { allClose, deepEqual, equal, ok } from "./assert.ts";

/** top1 of each point, by granularity, p_bern and seed; null: the point failed; undefined: pending. */
const TOP1: Record<string, (number | null | undefined)[]> = {
  "element,0.5": [0.5, 0.6, 0.7],
  "element,1": [0.9, 0.8, 0.85],
  "kernel,0.5": [0.4, null, 0.2],
  "kernel,1": [0.7, 0.7, undefined],
};

async function writePoints(sweep: Sweep) {
  for (const p of sweep.points) {
    const v = TOP1[`${p.axes.granularity},${p.axes.p_bern}`][p.axes.seed as number];
    if (v === undefined) continue;
    const dir = v === null ? `${pointDir(sweep.out, p)}.failed` : pointDir(sweep.out, p);
    await Deno.mkdir(dir, { recursive: true });
    const record = {
      id: p.id,
      label: p.label,
      axes: p.axes,
      status: v === null ? "failed" : "completed",
      dir: dir.slice(sweep.out.length + 1),
      attempts: 1,
      worker: "host:1",
      ...(v === null ? { error: "exit code 1: Error: out of memory" } : {}),
    };
    await Deno.writeTextFile(`${dir}/point.json`, JSON.stringify(record));
    if (v === null) continue;
    // a magnitude report: its sweep rows, the last one the point's result
    const report = {
      pipeline: "magnitude",
      status: "completed",
      seconds: 10,
      sweep: [{ p_prune: 0, top1: 0.99 }, { p_prune: 0.5, pruned_fraction: 0.5, top1: v }],
      ...(p.axes.seed === 2 ? {} : { top1_dense: 0.99 }),
    };
    await Deno.writeTextFile(`${dir}/report.json`, JSON.stringify(report));
  }
}

/** The errorbar marks of an SVG: [x, lo, hi] from their aria-labels. */
function errorBars(svg: string): [number, number, number][] {
  const bars = [
    ...svg.matchAll(
      /<line aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="errorbar"/g,
    ),
  ]
    .map((m) => {
      const f = Object.fromEntries(m[1].split("; ").map((kv) => kv.split(": ")));
      return [Number(f.p_bern), Number(f.lo), Number(f.hi)] as [number, number, number];
    });
  return [...new Map(bars.map((b) => [b.join(), b])).values()].sort((a, b) =>
    a[0] - b[0] || a[1] - b[1]
  );
}

Deno.test("sweep report: mean and sample sd over seeds per group, tables, failures, plot with error bars", async () => {
  const out = await Deno.makeTempDir({ prefix: "shears_sweep_report_" });
  try {
    const sweep = await resolveSpec(
      {
        pipeline: "magnitude",
        flags: { p_prune: 0.5 },
        grid: { granularity: ["element", "kernel"], p_bern: [0.5, 1], seed: [0, 1, 2] },
      },
      "report_test.yaml",
      { out },
    );
    await writePoints(sweep);
    const g = await gather(sweep);
    deepEqual(g.groupAxes, ["granularity", "p_bern"]);
    deepEqual(g.groups.map((x) => x.label), [
      "granularity=element,p_bern=0.5",
      "granularity=element,p_bern=1",
      "granularity=kernel,p_bern=0.5",
      "granularity=kernel,p_bern=1",
    ]);
    const top1 = g.groups.map((x) => x.stats.top1!);
    deepEqual(top1.map((s) => s.n), [3, 3, 2, 2]);
    allClose(top1.map((s) => s.mean), [0.6, 0.85, 0.3, 0.7]);
    // sample standard deviation (n - 1): 0.1, 0.05, 0.1414, 0
    allClose(top1.map((s) => s.sd), [0.1, 0.05, Math.SQRT2 / 10, 0], { rtol: 1e-9, atol: 1e-12 });
    allClose(top1.map((s) => s.min), [0.5, 0.8, 0.2, 0.7]);
    equal(g.missing.top1_dense, 3, "seed 2 reports lack top1_dense");
    equal(g.groups[0].stats.top1_dense!.n, 2);

    const files = await writeSweepReport(g);
    deepEqual(files.map((f) => f.slice(out.length + 1)), [
      "report.md",
      "report.json",
      "top1_vs_p_bern.svg",
    ]);
    const md = await Deno.readTextFile(`${out}/report.md`);
    ok(md.includes("12 points: 10 completed, 1 failed, 1 pending."), md);
    ok(md.includes("| granularity \\ p_bern | 0.5 | 1 |"), md);
    ok(md.includes("| granularity=element | 0.6 ± 0.1 | 0.85 ± 0.05 |"), md);
    ok(md.includes("| granularity=kernel | 0.3 ± 0.1414 (n=2) | 0.7 ± 0 (n=2) |"), md);
    ok(md.includes("exit code 1: Error: out of memory"), md);
    const json = JSON.parse(await Deno.readTextFile(`${out}/report.json`));
    deepEqual(json.counts, { total: 12, completed: 10, failed: 1, pending: 1 });
    equal(json.points.length, 12);

    const svg = await Deno.readTextFile(`${out}/top1_vs_p_bern.svg`);
    ok(svg.includes("granularity=element") && svg.includes("granularity=kernel"), "a line each");
    const bars = errorBars(svg);
    equal(bars.length, 4, JSON.stringify(bars));
    allClose(
      bars.flat(),
      [
        [0.5, 0.3 - Math.SQRT2 / 10, 0.3 + Math.SQRT2 / 10],
        [0.5, 0.5, 0.7],
        [1, 0.7, 0.7],
        [1, 0.8, 0.9],
      ].flat(),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("sweep report: an axis whose values follow the budget's (KD weights per budget) splits no line", async () => {
  const out = await Deno.makeTempDir({ prefix: "shears_sweep_report_" });
  try {
    const sweep = await resolveSpec(
      {
        pipeline: "relu_taylor",
        points: [
          { global_keep_ratio: 0.1, alpha: 0.5, gamma: 0.5 },
          { global_keep_ratio: 0.05, alpha: 0.3, gamma: 0.01 },
        ],
        grid: { scorer: ["taylor", "random"], seed: [0] },
      },
      "follows.yaml",
      { out },
    );
    for (const p of sweep.points) {
      const dir = pointDir(sweep.out, p);
      await Deno.mkdir(dir, { recursive: true });
      const record = { id: p.id, label: p.label, axes: p.axes, status: "completed" };
      await Deno.writeTextFile(`${dir}/point.json`, JSON.stringify(record));
      const acc = (p.axes.global_keep_ratio as number) + (p.axes.scorer === "taylor" ? 0.5 : 0.4);
      await Deno.writeTextFile(`${dir}/report.json`, JSON.stringify({ student_accuracy: acc }));
    }
    const g = await gather(sweep);
    deepEqual(
      plotsOf(g),
      [{ x: "global_keep_ratio", y: "student_top1" }],
      "not against alpha, gamma",
    );
    await writeSweepReport(g);
    const svg = await Deno.readTextFile(`${out}/student_top1_vs_global_keep_ratio.svg`);
    const points = [
      ...svg.matchAll(
        /aria-label="global_keep_ratio: ([\d.]+); student_top1: ([\d.]+); series: ([^";]+)" role="graphics-symbol" aria-roledescription="point"/g,
      ),
    ]
      .map((m) => `${m[3]} ${m[1]} ${m[2]}`).sort();
    deepEqual(points, [
      "scorer=random 0.05 0.45",
      "scorer=random 0.1 0.5",
      "scorer=taylor 0.05 0.55",
      "scorer=taylor 0.1 0.6",
    ]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
