/**
 * The histogram stage: how a scorer's scores are spread over the units it
 * scored (e.g. RNI's bimodal BN importances), as an SVG histogram in the
 * run directory and a summary in the report: count, min, max, and how many
 * scores lie at or below / at or above given thresholds.
 * @module
 */
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { histogramSVG } from "../plot.ts";
import { writeFileAtomic } from "../io.ts";

/** What {@link scoreHistogram} draws and records. */
export interface ScoreHistogramSpec {
  /** Key of the scores in ctx.scores. */
  scores: string;
  /** File name under the run directory, e.g. "importance.svg". */
  file: string;
  /** The chart's title, given the number of scores. */
  title: (ctx: RunContext, count: number) => string;
  xLabel: string;
  /** About this many bins; default 40. */
  bins?: number;
  /** Report key of the summary; default "<scores>_summary". */
  report?: string;
  /** Thresholds t counted as `below_<t>` (scores <= t), "." written "_": 0.1 -> below_0_1. */
  below?: number[];
  /** Thresholds t counted as `above_<t>` (scores >= t). */
  above?: number[];
}

/** The summary {@link scoreHistogram} records: count, min, max, `below_<t>`, `above_<t>`. */
export type ScoreSummary = { count: number; min: number; max: number } & Record<string, number>;

/**
 * Reads the scores under `spec.scores` (asynchronously), records their
 * summary under `ctx.report[report]` and writes their histogram (only with a
 * run directory).
 *
 * @example
 * ```ts
 * scoreHistogram({ scores: "importance", file: "bn_importance.svg", xLabel: "sigmoid(theta)",
 *   title: (_, n) => `BN importances (${n} channels)`, report: "importances", below: [0.1], above: [0.9] });
 * ```
 */
export function scoreHistogram(spec: ScoreHistogramSpec): Stage {
  return stage("histogram", async (ctx, emit) => {
    const scores = ctx.scores.get(spec.scores);
    if (!scores) throw new Error(`no scores '${spec.scores}' in the run; run score first`);
    const data = await Promise.all([...scores.values.values()].map((t) => t.data()));
    const values = data.flatMap((d) => Array.from(d));
    const key = (side: string, t: number) => `${side}_${String(t).replace(".", "_")}`;
    const count = (keep: (v: number) => boolean) => values.filter(keep).length;
    ctx.report[spec.report ?? `${spec.scores}_summary`] = {
      count: values.length,
      min: values.reduce((a, v) => Math.min(a, v), Infinity),
      max: values.reduce((a, v) => Math.max(a, v), -Infinity),
      ...Object.fromEntries((spec.below ?? []).map((t) => [key("below", t), count((v) => v <= t)])),
      ...Object.fromEntries((spec.above ?? []).map((t) => [key("above", t), count((v) => v >= t)])),
    } satisfies ScoreSummary;
    if (!ctx.runDir) return;
    const svg = await histogramSVG({
      title: spec.title(ctx, values.length),
      xLabel: spec.xLabel,
      values,
      bins: spec.bins ?? 40,
    });
    const path = `${ctx.runDir}/${spec.file}`;
    await writeFileAtomic(path, svg);
    emit.artifact("plot", path);
  });
}
