/**
 * The evaluate stage: test accuracy, size and cost of a model, recorded as
 * metrics and under `ctx.report[name]`.
 * @module
 */
import type { tf } from "../tf.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { accuracy, countMacs, countParams, countRelus, latency } from "../metrics.ts";

/** What to evaluate and how. */
export interface EvaluateSpec {
  /** Report key and metric prefix, e.g. "teacher", "student"; default "model". */
  name?: string;
  /** The model; default ctx.model. */
  model?: (ctx: RunContext) => tf.LayersModel | undefined;
  batchSize?: number;
  /** Use at most this many test examples. */
  limit?: number;
  /** Also time inference (median ms per batch of `batchSize`). */
  latency?: boolean;
}

/** The numbers `evaluate` records. */
export interface Evaluation {
  top1: number;
  top5: number;
  loss: number;
  params: number;
  nonzero_params: number;
  macs: number;
  relus: number;
  relus_active: number;
  latency_ms?: number;
}

/**
 * Evaluates a model on the test split.
 *
 * @example
 * ```ts
 * evaluate({ name: "student", latency: true });
 * ```
 */
export function evaluate(spec: EvaluateSpec = {}): Stage {
  const name = spec.name ?? "model";
  return stage("evaluate", async (ctx, emit) => {
    const model = spec.model ? spec.model(ctx) : ctx.model;
    if (!model || !ctx.data) throw new Error("evaluate needs a model and data");
    const batchSize = spec.batchSize ?? 128;
    const acc = await accuracy(model, ctx.data, { split: "test", batchSize, limit: spec.limit });
    const p = await countParams(model), r = await countRelus(model);
    const ev: Evaluation = {
      top1: acc.top1,
      top5: acc.top5,
      loss: acc.loss,
      params: p.total,
      nonzero_params: p.nonZero,
      macs: countMacs(model),
      relus: r.total,
      relus_active: r.active,
    };
    if (spec.latency) ev.latency_ms = await latency(model, { batchSize });
    for (const [k, v] of Object.entries(ev)) emit.metric(`${name}_${k}`, v, ctx.step.index);
    emit.log(
      `${name}: top-1 ${(ev.top1 * 100).toFixed(2)}%, top-5 ${(ev.top5 * 100).toFixed(2)}%, ` +
        `${ev.params} params, ${ev.macs} MACs, ${ev.relus_active}/${ev.relus} ReLUs`,
    );
    ctx.report[name] = ev;
  });
}
