/**
 * The load stage: puts the data, the model and (optionally) the teacher into
 * the run context, from factories the pipeline supplies (core knows no zoo).
 * @module
 */
import type { tf } from "../tf.ts";
import type { Dataset } from "../data.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { countMacs, countParams, countRelus } from "../metrics.ts";
import { unexportableLayers } from "../export/forms.ts";

/** Where the run's data, model and teacher come from. Data loads first, so factories can read its shape. */
export interface LoadSpec {
  data: (ctx: RunContext) => Promise<Dataset> | Dataset;
  model: (ctx: RunContext) => Promise<tf.LayersModel> | tf.LayersModel;
  teacher?: (ctx: RunContext) => Promise<tf.LayersModel | undefined> | tf.LayersModel | undefined;
}

/**
 * Loads data, model and teacher, and records the model's size. When the run
 * exports its model (`--export`, on by default), a layer the export cannot
 * write is a warning now rather than news at the end of the run.
 *
 * @example
 * ```ts
 * load({ data: () => loadDataset("mnist"), model: (ctx) => buildModel("lenet5", shapeOf(ctx)) });
 * ```
 */
export function load(spec: LoadSpec): Stage {
  return stage("load", async (ctx, emit) => {
    ctx.data = await spec.data(ctx);
    emit.log(
      `data: ${ctx.data.name} (${ctx.data.size("train")} train, ${ctx.data.size("test")} test, ` +
        `${ctx.data.inputShape.join("x")}, ${ctx.data.numClasses} classes)`,
    );
    ctx.model = await spec.model(ctx);
    ctx.teacher = spec.teacher ? await spec.teacher(ctx) : undefined;
    const p = await countParams(ctx.model), r = await countRelus(ctx.model);
    emit.metric("params", p.total);
    emit.metric("macs", countMacs(ctx.model));
    emit.metric("relus", r.active);
    emit.log(`model: ${ctx.model.name} (${p.total} params, ${r.active} ReLU elements)`);
    const stuck = ctx.config.export ? unexportableLayers(ctx.model) : [];
    if (stuck.length) {
      emit.log(
        `export: ${stuck.join(", ")} has no standard tfjs form and no shipped module; unless ` +
          `the pruning replaces it, the run ends without export/ (--no-export skips the export)`,
        "warn",
      );
    }
    if (ctx.teacher) {
      emit.log(`teacher: ${ctx.teacher.name} (${(await countParams(ctx.teacher)).total} params)`);
    }
  });
}
