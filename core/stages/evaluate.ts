/**
 * The evaluate stage: what a model is worth and what it costs, recorded as
 * metrics and under `ctx.report[name]`: test top-1 / top-5 / loss, params
 * (all and non-zero), MACs, ReLU elements (all and active), and on request
 * its bytes on disk and its median inference latency, either as it is or as
 * deployed (core's inferenceModel: BN folded, ReLUs fused). A deployed model
 * can be kept for {@link compareDeployed}, which times two deployed models
 * side by side at the end of a run. {@link recordReluTable} records the
 * active ReLUs of a model per layer (e.g. before and after ReLU pruning).
 * @module
 */
import type { tf } from "../tf.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import {
  accuracy,
  compareLatency,
  countMacs,
  countParams,
  countRelus,
  latency,
} from "../metrics.ts";
import { inferenceModel } from "../deploy.ts";
import { saveModel } from "../io.ts";
import { pct } from "../format.ts";
import { reluTable } from "../units.ts";
import type { PruneResult } from "../plugin.ts";

/** What to evaluate and how. */
export interface EvaluateSpec {
  /** Report key and metric prefix, e.g. "teacher", "student"; default "model". */
  name?: string;
  /** The model; default ctx.model. */
  model?: (ctx: RunContext) => tf.LayersModel | undefined;
  batchSize?: number;
  /** Use at most this many test examples. */
  limit?: number;
  /** Accuracy only (top-1, top-5, loss): a quick look, e.g. right after a cut. */
  accuracyOnly?: boolean;
  /** Also time inference (median ms per batch): of the model itself, or as deployed. */
  latency?: boolean | "deployed";
  /** Batch size of the latency measurement; default `batchSize`. */
  latencyBatch?: number;
  /** Also measure the bytes of the saved model (model.json + weights). */
  bytes?: boolean;
  /**
   * Keep the deployed model (with `latency: "deployed"`) under this key for
   * {@link compareDeployed}, when the function gives one.
   */
  keepDeployed?: (ctx: RunContext) => string | undefined;
  /** Log line; default the numbers measured. Return "" for none. */
  log?: (ev: Evaluation, ctx: RunContext) => string;
}

/** The numbers `evaluate` records (`accuracyOnly`: top1, top5, loss). */
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
  bytes?: number;
}

/**
 * The numbers of the `evaluate` stage called `name` (its report entry).
 *
 * @example
 * ```ts
 * record({ key: "sweep", row: (ctx) => ({ top1: evaluation(ctx, "pruned").top1 }) });
 * ```
 */
export function evaluation(ctx: RunContext, name: string): Evaluation {
  const ev = ctx.report[name] as Evaluation | undefined;
  if (!ev) throw new Error(`no evaluation '${name}' in the run yet`);
  return ev;
}

const DEPLOYED = "evaluate/deployed/";

/** Bytes of `model` saved in the tfjs layers format (written to a temporary directory). */
async function savedBytes(model: tf.LayersModel): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "shears_size_" });
  try {
    return (await saveModel(model, dir)).bytes;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Evaluates a model on the test split.
 *
 * @example
 * ```ts
 * evaluate({ name: "student", latency: true });
 * evaluate({ name: "pruned", bytes: true, latency: "deployed", latencyBatch: 64 });
 * ```
 */
export function evaluate(spec: EvaluateSpec = {}): Stage {
  const name = spec.name ?? "model";
  return stage("evaluate", async (ctx, emit, cancel) => {
    const model = spec.model ? spec.model(ctx) : ctx.model;
    if (!model || !ctx.data) throw new Error("evaluate needs a model and data");
    const batchSize = spec.batchSize ?? 128;
    const limit = spec.limit;
    const acc = await accuracy(model, ctx.data, { split: "test", batchSize, limit, cancel });
    let ev = { top1: acc.top1, top5: acc.top5, loss: acc.loss } as Evaluation;
    if (!spec.accuracyOnly) {
      const p = await countParams(model), r = await countRelus(model);
      ev = {
        ...ev,
        params: p.total,
        nonzero_params: p.nonZero,
        macs: countMacs(model),
        relus: r.total,
        relus_active: r.active,
      };
      if (spec.bytes) ev.bytes = await savedBytes(model);
      if (spec.latency) {
        ev.latency_ms = await timed(model, spec, ctx, spec.latencyBatch ?? batchSize);
      }
    }
    for (const [k, v] of Object.entries(ev)) emit.metric(`${name}_${k}`, v, ctx.step.index);
    const line = spec.log
      ? spec.log(ev, ctx)
      : spec.accuracyOnly
      ? `${name}: top-1 ${pct(ev.top1)}`
      : `${name}: top-1 ${pct(ev.top1)}, top-5 ${pct(ev.top5)}, ` +
        `${ev.params} params, ${ev.macs} MACs, ${ev.relus_active}/${ev.relus} ReLUs`;
    if (line) emit.log(line);
    ctx.report[name] = ev;
  });
}

/**
 * Records core's {@link reluTable} of ctx.model: its active ReLUs as
 * `ctx.report["relus_" + when]` and the per-layer rows (`before`: elements,
 * `after`: active) as `ctx.report["relu_layers_" + when]`; `log` makes the
 * stage's log line from the table.
 *
 * @example
 * ```ts
 * recordReluTable("before", (t) => `${t.kept} ReLUs`); // relus_before, relu_layers_before
 * recordReluTable("after"); // relus_after, relu_layers_after
 * ```
 */
export function recordReluTable(when: string, log?: (t: PruneResult) => string): Stage {
  return stage(`relus ${when}`, async (ctx, emit) => {
    if (!ctx.model) throw new Error("recordReluTable needs a model");
    const t = await reluTable(ctx.model);
    Object.assign(ctx.report, { [`relus_${when}`]: t.kept, [`relu_layers_${when}`]: t.perLayer });
    if (log) emit.log(log(t));
  });
}

/** Median latency of `model` (or of its deployed form, optionally kept in the run state). */
async function timed(
  model: tf.LayersModel,
  spec: EvaluateSpec,
  ctx: RunContext,
  batchSize: number,
): Promise<number> {
  if (spec.latency !== "deployed") return await latency(model, { batchSize });
  const deployed = await inferenceModel(model);
  const key = spec.keepDeployed?.(ctx);
  try {
    return await latency(deployed, { batchSize });
  } finally {
    if (key) {
      (ctx.state.get(DEPLOYED + key) as tf.LayersModel | undefined)?.dispose();
      ctx.state.set(DEPLOYED + key, deployed);
    } else deployed.dispose();
  }
}

/** How {@link compareDeployed} times. */
export interface CompareSpec {
  /** Key under which `evaluate` kept the deployed base model. */
  base: string;
  batchSize: number;
  /** Alternating rounds; default 5. */
  rounds?: number;
  /** Report key; default "speed_up". */
  name?: string;
}

/** The side-by-side latency that {@link compareDeployed} records. */
export interface SpeedUp {
  base_ms: number;
  pruned_ms: number;
  speed_up: number;
  batch: number;
  rounds: number;
}

/**
 * Times the deployed model `evaluate` kept under `spec.base` and the deployed
 * form of ctx.model side by side (alternating rounds: load on a shared
 * machine moves both sides of the ratio), records {@link SpeedUp} under
 * `ctx.report[name]` and frees the kept model. Does nothing when no model was
 * kept (e.g. the base was measured in an earlier process).
 *
 * @example
 * ```ts
 * compareDeployed({ base: "base", batchSize: 64 });
 * ```
 */
export function compareDeployed(spec: CompareSpec): Stage {
  const name = spec.name ?? "speed_up";
  return stage("speed-up", async (ctx, emit) => {
    const base = ctx.state.get(DEPLOYED + spec.base) as tf.LayersModel | undefined;
    if (!base) return;
    ctx.state.delete(DEPLOYED + spec.base);
    const pruned = await inferenceModel(ctx.model!);
    try {
      const rounds = spec.rounds ?? 5;
      const { ms, speedUp } = await compareLatency([base, pruned], {
        batchSize: spec.batchSize,
        rounds,
      });
      const s: SpeedUp = {
        base_ms: ms[0],
        pruned_ms: ms[1],
        speed_up: speedUp[1],
        batch: spec.batchSize,
        rounds,
      };
      ctx.report[name] = s;
      emit.metric(name, s.speed_up);
      emit.log(
        `side by side: ${s.base_ms.toFixed(2)} -> ${s.pruned_ms.toFixed(2)} ms ` +
          `(x${s.speed_up.toFixed(2)})`,
      );
    } finally {
      base.dispose();
      pruned.dispose();
    }
  });
}
