/**
 * Rows of a run's report: a table that stages fill as the run goes (one row
 * per pruning iteration, per sweep point, per measurement), kept as an array
 * under `ctx.report[key]` (so report.json holds it). {@link record} adds a
 * row, or completes the last one, from what earlier stages left in the
 * report (an `evaluate`'s numbers, the last `mask`'s counts), and announces
 * it as metrics and a log line; {@link reportRows} reads the rows back (for
 * a plot, a stopping rule, a summary).
 * @module
 */
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { type Evaluation, evaluation } from "./evaluate.ts";

/**
 * The rows under `ctx.report[key]`, made an empty array when there are none.
 *
 * @example
 * ```ts
 * const rows = reportRows<{ iteration: number; top1: number }>(ctx, "iterations");
 * ```
 */
export function reportRows<R>(ctx: RunContext, key: string): R[] {
  return (ctx.report[key] ??= []) as R[];
}

/** What {@link record} writes. */
export interface RecordSpec<R> {
  /** Stage name (the metrics are filed under it in report.json); default "record". */
  name?: string;
  /** Report key of the rows, e.g. "iterations". */
  key: string;
  /**
   * The row's fields, from the context and the rows so far (`rows` does not
   * hold the new row yet; with `merge`, it holds the row being completed).
   */
  row?: (ctx: RunContext, rows: R[]) => Partial<R>;
  /**
   * Numbers an `evaluate` stage recorded (its report entry, see `evaluation`) that the row
   * takes under the same names, after `row`'s fields.
   */
  from?: { evaluation: string; fields: (keyof Evaluation & keyof R)[] };
  /**
   * Whether to add a new row (default) or merge the fields into the last
   * one (a new row when there is none), e.g. a measurement after a
   * fine-tune completing the row its cut started.
   */
  merge?: boolean | ((ctx: RunContext) => boolean);
  /** Metrics to emit for the complete row: fields of it (numbers), or name -> value. */
  metrics?: (keyof R & string)[] | ((row: R, ctx: RunContext) => Record<string, number>);
  /** The step of those metrics; default none. */
  step?: (row: R, ctx: RunContext) => number;
  /** A log line for the complete row; default none. */
  log?: (row: R, ctx: RunContext) => string;
}

/**
 * Adds a row to (or completes the last row of) `ctx.report[key]`.
 *
 * @example
 * ```ts
 * evaluate({ name: "pruned" });
 * record<{ p: number; top1: number; macs: number }>({
 *   key: "sweep",
 *   row: (ctx) => ({ p: ps[ctx.step.index] }),
 *   from: { evaluation: "pruned", fields: ["top1", "macs"] },
 *   metrics: ["top1"],
 *   step: (_, ctx) => ctx.step.index,
 *   log: (r) => `p ${r.p}: top-1 ${r.top1}`,
 * });
 * ```
 */
export function record<R extends object>(spec: RecordSpec<R>): Stage {
  return stage(spec.name ?? "record", (ctx, emit) => {
    const rows = reportRows<R>(ctx, spec.key);
    const merge = typeof spec.merge === "function" ? spec.merge(ctx) : spec.merge;
    const ev = spec.from && evaluation(ctx, spec.from.evaluation);
    const picked = ev ? Object.fromEntries(spec.from!.fields.map((k) => [k, ev[k]])) : {};
    const fields = { ...spec.row?.(ctx, rows), ...picked } as Partial<R>;
    const row = merge && rows.length
      ? Object.assign(rows.at(-1)!, fields)
      : rows[rows.push(fields as R) - 1];
    const step = spec.step?.(row, ctx);
    const metrics = typeof spec.metrics === "function"
      ? spec.metrics(row, ctx)
      : Object.fromEntries((spec.metrics ?? []).map((k) => [k, row[k] as number]));
    for (const [k, v] of Object.entries(metrics)) emit.metric(k, v, step);
    const line = spec.log?.(row, ctx);
    if (line) emit.log(line);
  });
}
