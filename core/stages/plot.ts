/**
 * The plot stages: {@link plot} writes an SVG (from core/plot.ts's charts)
 * into the run directory, atomically, and announces it; {@link chart} draws
 * a report's rows (see ./record.ts) as a line chart.
 * @module
 */
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { writeFileAtomic } from "../io.ts";
import { lineChartSVG } from "../plot.ts";
import { reportRows } from "./record.ts";

/** What {@link plot} writes. */
export interface PlotSpec {
  /** File name under the run directory, e.g. "sweep.svg". */
  file: string;
  /** The SVG text (e.g. `lineChartSVG({...})`); undefined writes nothing. */
  svg: (ctx: RunContext) => Promise<string | undefined> | string | undefined;
}

/**
 * Writes `spec.svg(ctx)` to `<run>/<file>`; nothing without a run directory.
 *
 * @example
 * ```ts
 * plot({ file: "sweep.svg", svg: (ctx) => lineChartSVG({ title, xLabel, yLabel, series }) });
 * ```
 */
export function plot(spec: PlotSpec): Stage {
  return stage("plot", async (ctx, emit) => {
    if (!ctx.runDir) return;
    const svg = await spec.svg(ctx);
    if (svg === undefined) return;
    const path = `${ctx.runDir}/${spec.file}`;
    await writeFileAtomic(path, svg);
    emit.artifact("plot", path);
  });
}

/** One line of a {@link chart}: a point per row. */
export interface ChartLine<R> {
  name: string;
  /** The point's x; `rows` are all the rows plotted (e.g. to plot a share of the first). */
  x: (row: R, rows: R[]) => number;
  y: (row: R) => number;
}

/** A line chart of a report's rows (see `record`): what {@link chart} draws. */
export interface ChartSpec<R> {
  /** Report key of the rows, e.g. "iterations". */
  rows: string;
  /** File name under the run directory; default `<rows>.svg`, e.g. "iterations.svg". */
  file?: string;
  title: (ctx: RunContext) => string;
  xLabel: string;
  /** Default "top-1". */
  yLabel?: string;
  lines: ChartLine<R>[];
  /** A row plotted before the recorded ones (e.g. the unpruned model, recorded elsewhere). */
  lead?: (ctx: RunContext) => R;
  /** One set of lines per value of `by` (in the order of first appearance), named `<by> <line>`. */
  by?: (row: R) => string;
}

/**
 * Plots the rows under `ctx.report[rows]` as a line chart into `<run>/<file>`.
 *
 * @example
 * ```ts
 * chart<{ p: number; top1: number }>({ // sweep.svg: top-1 against p
 *   rows: "sweep", title: () => "top-1 vs pruning ratio", xLabel: "pruned fraction",
 *   lines: [{ name: "global", x: (r) => r.p, y: (r) => r.top1 }],
 * });
 * ```
 */
export function chart<R>(spec: ChartSpec<R>): Stage {
  return plot({
    file: spec.file ?? `${spec.rows}.svg`,
    svg: (ctx) => {
      const rows = [...(spec.lead ? [spec.lead(ctx)] : []), ...reportRows<R>(ctx, spec.rows)];
      const sets = spec.by
        ? [...new Set(rows.map(spec.by))].map((v) => ({
          prefix: `${v} `,
          rows: rows.filter((r) => spec.by!(r) === v),
        }))
        : [{ prefix: "", rows }];
      return lineChartSVG({
        title: spec.title(ctx),
        xLabel: spec.xLabel,
        yLabel: spec.yLabel ?? "top-1",
        series: sets.flatMap((s) =>
          spec.lines.map((l) => ({
            name: s.prefix + l.name,
            points: s.rows.map((r) => [l.x(r, rows), l.y(r)] as [number, number]),
          }))
        ),
      });
    },
  });
}
