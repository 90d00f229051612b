/**
 * Stages that change or keep the run's model as a whole: apply a registered
 * transform (BN folding, SigmoidBatchNorm, back to plain layers), save a
 * model beside the run's `model/`, start the student from the teacher's
 * weights where they match, or keep a copy of the model as the teacher.
 * @module
 */
import { tf } from "../tf.ts";
import type { Options } from "../plugin.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { saveModel } from "../io.ts";

/** Which transform, with what options, on which model. */
export interface TransformSpec {
  /** Registry name, e.g. "intra_fusion/fold_bn". */
  name: string;
  options?: Options;
  /** Apply only when this says so (default always). */
  when?: (ctx: RunContext) => boolean;
}

/**
 * Replaces ctx.model by the registered transform's result (the old model is
 * disposed unless it is the teacher).
 *
 * @example
 * ```ts
 * transform({ name: "magnitude/plain_conv" });
 * ```
 */
export function transform(spec: TransformSpec): Stage {
  return stage(`transform ${spec.name}`, async (ctx, emit) => {
    if (spec.when && !spec.when(ctx)) return;
    const old = ctx.model;
    if (!old) throw new Error(`transform ${spec.name}: no model loaded`);
    ctx.model = await ctx.registry.transform(spec.name).apply(old, spec.options ?? {});
    if (old !== ctx.model && old !== ctx.teacher) old.dispose();
    emit.log(`${spec.name}: ${old.layers.length} -> ${ctx.model.layers.length} layers`);
  });
}

/** Where and which model {@link save} writes. */
export interface SaveSpec {
  /** Directory under the run directory, e.g. "model_default". */
  dir: string;
  /** The model; default ctx.model. */
  model?: (ctx: RunContext) => tf.LayersModel | undefined;
  /** Save only when this says so (default always). */
  when?: (ctx: RunContext) => boolean;
}

/**
 * Saves a model (model.json + weights.bin) under the run directory, beside
 * the `model/` the runner writes at the end; nothing without a run directory.
 *
 * @example
 * ```ts
 * save({ dir: "model_default", when: (ctx) => ctx.step.index === 3 });
 * ```
 */
export function save(spec: SaveSpec): Stage {
  return stage(`save ${spec.dir}`, async (ctx, emit) => {
    if (!ctx.runDir || (spec.when && !spec.when(ctx))) return;
    const model = spec.model ? spec.model(ctx) : ctx.model;
    if (!model) throw new Error(`save ${spec.dir}: no model`);
    const path = `${ctx.runDir}/${spec.dir}`;
    await saveModel(model, path);
    emit.artifact("model", path);
  });
}

/**
 * Copies into `to` every layer's weights from the layer of the same name in
 * `from` whose weights have the same shapes; returns how many layers.
 *
 * @example
 * ```ts
 * copyMatchingWeights(student, teacher); // e.g. 41
 * ```
 */
export function copyMatchingWeights(to: tf.LayersModel, from: tf.LayersModel): number {
  let copied = 0;
  for (const l of to.layers) {
    const t = from.layers.find((x) => x.name === l.name);
    const tw = t?.getWeights() ?? [];
    const sw = l.getWeights();
    if (
      tw.length && tw.length === sw.length &&
      tw.every((w, i) => w.shape.join() === sw[i].shape.join())
    ) {
      l.setWeights(tw);
      copied++;
    }
  }
  return copied;
}

/**
 * Starts ctx.model from the teacher's weights where layer names and shapes
 * match ({@link copyMatchingWeights}), when `when` says so.
 *
 * @example
 * ```ts
 * inheritWeights(() => flags.init === "teacher");
 * ```
 */
export function inheritWeights(when: (ctx: RunContext) => boolean = () => true): Stage {
  return stage("inherit", (ctx, emit) => {
    if (!when(ctx)) return;
    if (!ctx.model || !ctx.teacher) throw new Error("inheritWeights needs a model and a teacher");
    const n = copyMatchingWeights(ctx.model, ctx.teacher);
    emit.log(`student: ${n} layers initialised from the teacher`);
  });
}

/**
 * A copy of `model` (same layers, config and weights; functional or
 * Sequential) that shares nothing with it.
 *
 * @example
 * ```ts
 * const frozen = await cloneModel(model);
 * ```
 */
export async function cloneModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  const topology = model.toJSON(null, false) as tf.io.ModelJSON["modelTopology"];
  const copy = await tf.models.modelFromJSON({ modelTopology: topology });
  copy.setWeights(model.getWeights());
  return copy;
}

/**
 * Makes a copy of ctx.model (as it is now: e.g. trained, not yet pruned)
 * the teacher to distil from, when `when` says so.
 *
 * @example
 * ```ts
 * teacherFromModel(() => flags.distill === "kd");
 * ```
 */
export function teacherFromModel(when: (ctx: RunContext) => boolean = () => true): Stage {
  return stage("teacher", async (ctx, emit) => {
    if (!when(ctx)) return;
    if (!ctx.model) throw new Error("teacherFromModel: no model loaded");
    ctx.teacher?.dispose();
    ctx.teacher = await cloneModel(ctx.model);
    emit.log("teacher: a copy of the unpruned model");
  });
}
