/**
 * The plot stage: writes an SVG (from core/plot.ts's charts) into the run
 * directory, atomically, and announces it.
 * @module
 */
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { writeFileAtomic } from "../io.ts";

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
