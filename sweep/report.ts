/**
 * The gathered report of a sweep, written into its directory: report.md
 * (a table per metric over the axes, mean ± standard deviation over the
 * repeats, the failures, every point), report.json (the same numbers) and
 * SVG plots: the main metric against each numeric axis, one line per value
 * of the other axes, with error bars of one standard deviation over the
 * seeds; and against a cost metric (MACs) for channel methods.
 *
 * @example
 * ```ts
 * const files = await writeSweepReport(await gather(sweep));
 * // ["runs/sweeps/smoke/report.md", "runs/sweeps/smoke/report.json", ".../student_top1_vs_seed.svg"]
 * ```
 * @module
 */
import { lineChartSVG, type Series, writeFileAtomic } from "@shears/core";
import type { Gathered, Group, Stat } from "./gather.ts";
import { axesLabel, type FlagValue, type PlotSpec } from "./spec.ts";

/** A number in at most 4 significant digits (integers whole). */
function num(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(+v.toPrecision(4));
}

function cell(s: Stat | undefined, full: number): string {
  if (!s) return "–";
  const spread = s.n > 1 ? ` ± ${num(s.sd)}` : "";
  return `${num(s.mean)}${spread}${s.n < full ? ` (n=${s.n})` : ""}`;
}

/** Axes of the groups whose values are all numbers, with at least two distinct values. */
function numericAxes(g: Gathered): string[] {
  return g.groupAxes.filter((a) => {
    const vs = g.groups.map((grp) => grp.axes[a]);
    return vs.every((v) => typeof v === "number") && new Set(vs).size > 1;
  });
}

/** Whether axis `a`'s value follows from axis `x`'s in every group (a budget's own KD weights). */
function follows(g: Gathered, a: string, x: string): boolean {
  const seen = new Map<string, string>();
  for (const grp of g.groups) {
    const [kx, ka] = [JSON.stringify(grp.axes[x]), JSON.stringify(grp.axes[a])];
    if (seen.has(kx) && seen.get(kx) !== ka) return false;
    seen.set(kx, ka);
  }
  return true;
}

/**
 * The plots of a gathered sweep: the spec's, else the main metric against
 * every numeric axis (but one whose values follow from an earlier one's)
 * and against the cost metric.
 *
 * @example
 * ```ts
 * plotsOf(g); // [{ x: "global_keep_ratio", y: "student_top1" }]
 * ```
 */
export function plotsOf(g: Gathered): PlotSpec[] {
  const r = g.sweep.report;
  if (r.plots) return r.plots;
  const y = r.y ?? Object.keys(g.metrics).find((m) => m !== "seconds");
  if (!y) return [];
  const numeric = numericAxes(g);
  const plots = numeric.filter((x, i) => !numeric.slice(0, i).some((e) => follows(g, x, e)))
    .map((x) => ({ x, y }));
  if (r.cost) plots.push({ x: r.cost, y });
  return plots;
}

/**
 * Series of `y` against `x`: against an axis, one per value of the other
 * axes (but those that follow from `x`); against a metric, one per value of
 * the non-numeric axes.
 */
function seriesOf(g: Gathered, p: PlotSpec): Series[] {
  const onAxis = g.groupAxes.includes(p.x);
  const numeric = numericAxes(g);
  const by = g.groupAxes.filter((a) =>
    a !== p.x && (onAxis ? !follows(g, a, p.x) : !numeric.includes(a))
  );
  const series = new Map<string, { pts: [number, number, number][] }>();
  for (const grp of g.groups) {
    const y = grp.stats[p.y];
    const xv: FlagValue | undefined = onAxis ? grp.axes[p.x] : grp.stats[p.x]?.mean;
    if (!y || typeof xv !== "number") continue;
    const name = axesLabel(grp.axes, by) || p.y;
    const s = series.get(name) ?? { pts: [] };
    s.pts.push([xv, y.mean, y.sd]);
    series.set(name, s);
  }
  return [...series].map(([name, { pts }]) => {
    pts.sort((a, b) => a[0] - b[0]);
    return { name, points: pts.map(([x, y]) => [x, y]), errors: pts.map(([, , e]) => e) };
  });
}

function fileName(p: PlotSpec): string {
  return `${p.y}_vs_${p.x}.svg`.replace(/[^\w.-]/g, "_");
}

/** The table of one metric: rows by the axes but the last, columns by the last (or one column). */
function metricTable(g: Gathered, metric: string, full: number): string[] {
  const cols = g.groupAxes.at(-1);
  const rowAxes = g.groupAxes.slice(0, -1);
  if (!cols) return ["| mean |", "|---|", `| ${cell(g.groups[0]?.stats[metric], full)} |`];
  const colValues = [...new Set(g.groups.map((grp) => String(grp.axes[cols])))];
  const rows = new Map<string, Map<string, Group>>();
  for (const grp of g.groups) {
    const key = axesLabel(grp.axes, rowAxes) || metric;
    const row = rows.get(key) ?? new Map<string, Group>();
    row.set(String(grp.axes[cols]), grp);
    rows.set(key, row);
  }
  const corner = rowAxes.length ? `${rowAxes.join(", ")} \\ ${cols}` : cols;
  const head = `| ${corner} | ${colValues.join(" | ")} |`;
  return [
    head,
    `|---|${colValues.map(() => "---").join("|")}|`,
    ...[...rows].map(([key, row]) =>
      `| ${key} | ${colValues.map((c) => cell(row.get(c)?.stats[metric], full)).join(" | ")} |`
    ),
  ];
}

/**
 * Writes report.md, report.json and the SVG plots of `g` into the sweep
 * directory (atomically); returns their paths.
 *
 * @example
 * ```ts
 * await writeSweepReport(await gather(sweep));
 * ```
 */
export async function writeSweepReport(g: Gathered): Promise<string[]> {
  const { sweep } = g;
  const count = (s: string) => g.rows.filter((r) => r.record.status === s).length;
  const counts = {
    total: g.rows.length,
    completed: count("completed"),
    failed: count("failed"),
    pending: count("pending"),
  };
  const full = Math.max(0, ...g.groups.map((grp) => grp.points));
  const plots = plotsOf(g);
  const written: string[] = [];
  const drawn: PlotSpec[] = [];
  for (const p of plots) {
    const series = seriesOf(g, p);
    if (!series.some((s) => s.points.length)) continue;
    const over = sweep.report.average_over;
    const svg = await lineChartSVG({
      title: `${sweep.pipeline}: ${p.y} vs ${p.x}${
        over.length ? ` (mean ± sd over ${over.join(", ")})` : ""
      }`,
      xLabel: p.x,
      yLabel: p.y,
      series,
    });
    const path = `${sweep.out}/${fileName(p)}`;
    await writeFileAtomic(path, svg);
    written.push(path);
    drawn.push(p);
  }
  const json = {
    pipeline: sweep.pipeline,
    sweep_id: sweep.id,
    source: sweep.source,
    counts,
    axes: sweep.axes,
    average_over: sweep.report.average_over,
    metrics: g.metrics,
    missing: g.missing,
    groups: g.groups.map((grp) => ({ label: grp.label, axes: grp.axes, stats: grp.stats })),
    points: g.rows.map((r) => ({ ...r.record, metrics: r.values })),
    plots: drawn.map((p) => ({ ...p, file: fileName(p) })),
  };
  const md = [
    `# Sweep: ${sweep.pipeline} (${sweep.source})`,
    "",
    `${counts.total} points: ${counts.completed} completed, ${counts.failed} failed, ${counts.pending} pending.` +
    (sweep.report.average_over.length
      ? ` Cells: mean ± standard deviation over ${
        sweep.report.average_over.join(", ")
      } (${full} per cell).`
      : ""),
    "",
  ];
  const failed = g.rows.filter((r) => r.record.status === "failed");
  if (failed.length) {
    md.push("## Failures", "");
    for (const r of failed) {
      md.push(`- ${r.point.label || r.point.id}: ${r.record.error} (${r.record.dir}/run.log)`);
    }
    md.push("");
  }
  for (const [name, path] of Object.entries(g.metrics)) {
    md.push(
      `## ${name}`,
      "",
      `\`${path}\` in each report.json` +
        (g.missing[name] ? `; missing in ${g.missing[name]} reports` : ""),
      "",
    );
    md.push(...metricTable(g, name, full), "");
  }
  if (drawn.length) {
    md.push("## Plots", "", ...drawn.map((p) => `![${p.y} vs ${p.x}](${fileName(p)})`), "");
  }
  const names = Object.keys(g.metrics);
  md.push(
    "## Points",
    "",
    `| point | status | attempts | worker | ${names.join(" | ")} |`,
    `|---|---|---|---|${names.map(() => "---").join("|")}|`,
    ...g.rows.map((r) =>
      `| [${r.point.label || r.point.id}](${
        r.record.dir ?? `points/${r.point.dir}`
      }) | ${r.record.status} | ${r.record.attempts ?? ""} | ${r.record.worker ?? ""} | ${
        names.map((n) => (r.values[n] === undefined ? "–" : num(r.values[n]!))).join(" | ")
      } |`
    ),
    "",
  );
  await writeFileAtomic(`${sweep.out}/report.json`, JSON.stringify(json, null, 2) + "\n");
  await writeFileAtomic(`${sweep.out}/report.md`, md.join("\n"));
  return [`${sweep.out}/report.md`, `${sweep.out}/report.json`, ...written];
}
