/**
 * The stage pipeline: a run is an Observable of {@link RunEvent}s produced by
 * stages that run in order over one mutable {@link RunContext}.
 *
 * @example
 * ```ts
 * const run = pipeline(load, progressive(3, score, mask, distill), evaluate);
 * run(ctx).subscribe((e) => console.log(e));
 * ```
 * @module
 */
import { concat, defer, EMPTY, Observable } from "rxjs";
import type { tf } from "./tf.ts";
import type { Dataset } from "./data.ts";
import type { Rng } from "./rng.ts";
import type { Registry, Scores } from "./plugin.ts";
import type { MaskSet } from "./masks.ts";

/** Progress on long work: `current` of `total` units (batches, epochs, iterations). */
export interface ProgressEvent {
  type: "progress";
  stage: string;
  /** What is counted, e.g. "epoch 2/10" or "batch". */
  label: string;
  current: number;
  total: number;
  /** Running numbers to show beside the bar (loss, acc). */
  values?: Record<string, number>;
}

/** A number worth recording (in report.json under its stage). */
export interface MetricEvent {
  type: "metric";
  stage: string;
  name: string;
  value: number;
  /** Progressive step, epoch, or iteration the value belongs to. */
  step?: number;
}

/** A line for the log. */
export interface LogEvent {
  type: "log";
  stage: string;
  level: "info" | "warn";
  message: string;
}

/** A file written by a stage. */
export interface ArtifactEvent {
  type: "artifact";
  stage: string;
  kind: "model" | "report" | "plot" | "checkpoint" | "table";
  path: string;
}

/** Everything a run emits. */
export type RunEvent = ProgressEvent | MetricEvent | LogEvent | ArtifactEvent;

/** Where a progressive block stands. `index` counts from 0. */
export interface StepState {
  index: number;
  total: number;
}

/** Backend facts recorded in reports. */
export interface BackendInfo {
  name: string;
  /** Where WebGPU came from ("dawn" | "deno"); webgpu only. */
  provider?: string;
  device: string;
  simd?: boolean;
  threads?: boolean;
}

/**
 * The mutable state of one run, shared by its stages.
 */
export interface RunContext {
  /** The model being pruned (the student). */
  model?: tf.LayersModel;
  /** The teacher for distillation. */
  teacher?: tf.LayersModel;
  /** Train / test data. */
  data?: Dataset;
  /** Masks currently in force on `model`. */
  masks: MaskSet;
  /** Latest scores, by scorer name. */
  scores: Map<string, Scores>;
  /** Position in the enclosing `progressive` block. */
  step: StepState;
  /** Aborted when the run is cancelled (Ctrl-C, unsubscribe). */
  signal: AbortSignal;
  /** Seeded randomness for the run. */
  rng: Rng;
  /** Plugins known to this run. */
  registry: Registry;
  /** Parsed flags / recipe values. */
  config: Record<string, unknown>;
  /** Plugin- or stage-private state that must live across stages (keyed by owner). */
  state: Map<string, unknown>;
  /** Numbers collected for report.json: stage -> name -> value(s). */
  report: Record<string, unknown>;
  /** Directory of this run's files, when it writes any. */
  runDir?: string;
  /** The backend in use. */
  backend?: BackendInfo;
}

/** A named unit of work over the run context. */
export interface Stage {
  name: string;
  run(ctx: RunContext): Observable<RunEvent>;
}

/** Emits events for a stage body written as an async function. */
export interface Emit {
  (event: RunEvent): void;
  progress(label: string, current: number, total: number, values?: Record<string, number>): void;
  metric(name: string, value: number, step?: number): void;
  log(message: string, level?: "info" | "warn"): void;
  artifact(kind: ArtifactEvent["kind"], path: string): void;
}

/** Thrown by {@link throwIfCancelled} when a run or stage has been cancelled. */
export class CancelledError extends Error {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

/** A cancellation token: true once the stage is unsubscribed or the run aborted. */
export interface Cancel {
  readonly cancelled: boolean;
}

/** Throws {@link CancelledError} if `c` is cancelled. Call once per batch. */
export function throwIfCancelled(c: Cancel): void {
  if (c.cancelled) throw new CancelledError();
}

/**
 * Lets pending events in, then throws {@link CancelledError} if `c` is
 * cancelled. A Ctrl-C's signal handler runs only between macrotasks, and a
 * loop of tensor work awaits only microtasks (the cpu backend's reads), so
 * a loop that checks with {@link throwIfCancelled} alone never sees it:
 * await this once per item instead.
 *
 * @example
 * ```ts
 * for (const batch of batches) {
 *   await cancelPoint(cancel);
 *   // ... the batch
 * }
 * ```
 */
export async function cancelPoint(c: Cancel): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  throwIfCancelled(c);
}

/**
 * Makes a {@link Stage} from an async body. The body gets an `emit` helper and a
 * cancellation token that turns true when the stage is unsubscribed or
 * `ctx.signal` aborts; long loops check it once per item (batch, point,
 * iteration: {@link cancelPoint}) so a cancel stops within one item. A
 * stage that starts, or ends, once the run is cancelled fails with
 * {@link CancelledError}, so no stage runs after a Ctrl-C.
 *
 * @example
 * ```ts
 * const hello = stage("hello", async (ctx, emit) => { emit.log("hi"); });
 * ```
 */
export function stage(
  name: string,
  body: (ctx: RunContext, emit: Emit, cancel: Cancel) => Promise<void> | void,
): Stage {
  return {
    name,
    run: (ctx) =>
      new Observable<RunEvent>((sub) => {
        const token = {
          unsubscribed: false,
          get cancelled() {
            return this.unsubscribed || ctx.signal.aborted;
          },
        };
        const emit = makeEmit(name, (e) => {
          if (!token.unsubscribed) sub.next(e);
        });
        cancelPoint(token)
          .then(() => body(ctx, emit, token))
          .then(() => throwIfCancelled(token))
          .then(
            () => sub.complete(),
            (err) => sub.error(err),
          );
        return () => {
          token.unsubscribed = true;
        };
      }),
  };
}

function makeEmit(stageName: string, next: (e: RunEvent) => void): Emit {
  const emit = ((e: RunEvent) => next(e)) as Emit;
  emit.progress = (label, current, total, values) =>
    next({ type: "progress", stage: stageName, label, current, total, values });
  emit.metric = (name, value, step) =>
    next({ type: "metric", stage: stageName, name, value, step });
  emit.log = (message, level = "info") => next({ type: "log", stage: stageName, level, message });
  emit.artifact = (kind, path) => next({ type: "artifact", stage: stageName, kind, path });
  return emit;
}

/**
 * The stages when `cond` holds, else none: an optional part of a stage list.
 *
 * @example
 * ```ts
 * [load(spec), ...when(f.finetune_epochs > 0, finetune({ epochs: f.finetune_epochs })), evaluate()];
 * ```
 */
export function when(cond: unknown, ...stages: Stage[]): Stage[] {
  return cond ? stages : [];
}

/**
 * Runs stages one after another over the same context. A stage starts only
 * when the previous one completed; an error or unsubscribe stops the rest.
 */
export function pipeline(...stages: Stage[]): (ctx: RunContext) => Observable<RunEvent> {
  return (ctx) => concat(...stages.map((s) => defer(() => s.run(ctx))));
}

/**
 * Repeats a block of stages `n` times, setting `ctx.step` to
 * `{index: i, total: n}` before block i, so schedules can read their position.
 *
 * @example
 * ```ts
 * const block = progressive(4, score, mask, distill);
 * ```
 */
export function progressive(n: number, ...stages: Stage[]): Stage {
  return {
    name: `progressive(${n}: ${stages.map((s) => s.name).join(", ")})`,
    run: (ctx) =>
      concat(
        ...Array.from({ length: n }, (_, i) =>
          defer(() => {
            ctx.step = { index: i, total: n };
            return pipeline(...stages)(ctx);
          })),
      ),
  };
}

/** A step of a combinator as a stage: runs `fn` (synchronous) once the run is not cancelled. */
function step(name: string, fn: (ctx: RunContext) => void): Stage {
  return stage(name, (ctx) => fn(ctx));
}

/** How {@link iterate} repeats. */
export interface IterateSpec {
  /** Stage name; default "iterations". */
  name?: string;
  /** The block run at each iteration (`ctx.step.index` = the iteration, from 0). */
  stages: Stage[];
  /** After iteration `i` (from 0): stop? */
  until: (ctx: RunContext, i: number) => boolean;
  /** What `ctx.step.total` says during iteration i (default i + 1: open-ended). */
  total?: (ctx: RunContext, i: number) => number;
}

/**
 * Repeats a block of stages until a condition holds after an iteration
 * (prune, measure, fine-tune, until a MAC target is met), setting `ctx.step`
 * before each; a cancelled run stops before the next iteration.
 *
 * @example
 * ```ts
 * iterate({ stages: [score(s), mask(m), finetune(f)], until: (ctx, i) => i + 1 >= 5 });
 * ```
 */
export function iterate(spec: IterateSpec): Stage {
  const name = spec.name ?? "iterations";
  const run = (ctx: RunContext, i: number): Observable<RunEvent> =>
    concat(
      step(name, (c) => {
        c.step = { index: i, total: spec.total?.(c, i) ?? i + 1 };
      }).run(ctx),
      pipeline(...spec.stages)(ctx),
      defer(() => (spec.until(ctx, i) ? EMPTY : run(ctx, i + 1))),
    );
  return { name, run: (ctx) => defer(() => run(ctx, 0)) };
}

/** How {@link sweep} runs its points. */
export interface SweepSpec {
  /** Stage name; default "sweep". */
  name?: string;
  /** Number of points; the block reads its point from `ctx.step.index`. */
  points: number | ((ctx: RunContext) => number);
  /** The block run at each point. */
  stages: Stage[];
  /**
   * The point whose model ctx.model holds after the sweep, when its block
   * replaced the model (default: the last point's).
   */
  keep?: (ctx: RunContext, index: number) => boolean;
  /**
   * What the point is (e.g. `p_prune 0.3`), logged as it starts, after the
   * model is restored and `ctx.step` set: `sweep point 2/8: p_prune 0.3`.
   * Default: no line.
   */
  label?: (ctx: RunContext) => string;
}

/**
 * Runs a block of stages once per point, each point starting from the model
 * as it was before the sweep: between points the run's weight masks are
 * restored, a model a point replaced (a structural pruner's) is disposed and
 * the original put back, and the original's weights (fine-tuned in place)
 * are reset. `ctx.step` is `{index, total}` of the point; `label` logs which
 * point starts. After the sweep, ctx.model is the kept point's model (default
 * the last), the original is disposed when no longer held (not ctx.model or
 * the teacher), and a cancelled run stops before the next point.
 *
 * @example
 * ```ts
 * const ps = [0.1, 0.5, 0.9], p = (ctx: RunContext) => ps[ctx.step.index];
 * sweep({
 *   points: ps.length,
 *   label: (ctx) => `prune ${p(ctx)}`,
 *   stages: [score(s), mask({ ..., budget: (ctx) => ({ keepRatio: 1 - p(ctx) }) }), evaluate()],
 * });
 * ```
 */
export function sweep(spec: SweepSpec): Stage {
  const name = spec.name ?? "sweep";
  return {
    name,
    run: (ctx) =>
      defer(() => {
        const original = ctx.model;
        if (!original) throw new Error(`${name}: no model to sweep over`);
        const n = typeof spec.points === "function" ? spec.points(ctx) : spec.points;
        let snapshot: tf.Tensor[] | undefined;
        let kept: tf.LayersModel | undefined;
        const drop = (m: tf.LayersModel | undefined) => {
          if (m && m !== original && m !== kept && m !== ctx.teacher) m.dispose();
        };
        const restore = (i: number) =>
          stage(`${name} point ${i + 1}/${n}`, (c, emit) => {
            if (i === 0) {
              snapshot = original.getWeights().map((w) => w.clone());
            } else {
              c.masks.restore(c.model!);
              drop(c.model);
              c.model = original;
              original.setWeights(snapshot!);
            }
            c.step = { index: i, total: n };
            if (spec.label) emit.log(spec.label(c));
          });
        const remember = (i: number) =>
          step(`${name} point ${i + 1}/${n}`, (c) => {
            if (spec.keep?.(c, i) && c.model !== original) kept = c.model;
          });
        const finish = () => {
          snapshot?.forEach((t) => t.dispose());
          if (kept && kept !== ctx.model) {
            const last = ctx.model;
            ctx.model = kept;
            drop(last);
          }
          if (ctx.model !== original && original !== ctx.teacher) original.dispose();
        };
        const points = Array.from({ length: n }, (_, i) =>
          concat(restore(i).run(ctx), pipeline(...spec.stages)(ctx), remember(i).run(ctx)));
        return new Observable<RunEvent>((sub) => {
          const inner = concat(...points).subscribe({
            next: (e) =>
              sub.next(e),
            error: (e) => {
              snapshot?.forEach((t) => t.dispose());
              sub.error(e);
            },
            complete: () => {
              try {
                finish();
                sub.complete();
              } catch (e) {
                sub.error(e);
              }
            },
          });
          return () => inner.unsubscribe();
        });
      }),
  };
}
