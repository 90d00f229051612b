/**
 * A Shears model in stock tfjs layers: every custom layer replaced by its
 * registered standard form (or removed where it is the identity), then BN
 * folded and ReLUs fused as {@link inferenceModel} does. Layers with a
 * shipped module instead stay, and their module sources come back with the
 * model. Same inference outputs as the input model, which is left as it was.
 *
 * @example
 * ```ts
 * const { model: plain, modules, rewritten } = await standardModel(model);
 * // rewritten: [{ layer: "block1_relu1", from: "MaskedReLU", to: "ReLU" }, ...]
 * ```
 * @module
 */
import { tf } from "../tf.ts";
import { inferenceModel } from "../deploy.ts";
import { rewriteLayers } from "../rewrite.ts";
import { exportFate, type LayerModuleSource, type StandardLayer } from "./forms.ts";

/** One custom layer the export rewrote: its class and what replaced it ("removed" for none). */
export interface Rewritten {
  layer: string;
  from: string;
  to: string;
}

/** What {@link standardModel} returns; the caller disposes `model`. */
export interface StandardModel {
  model: tf.LayersModel;
  /** Shipped module sources by class name, for the custom layers that stay. */
  modules: Map<string, LayerModuleSource>;
  rewritten: Rewritten[];
}

/** `model` as a functional model (a Sequential's layers, shared; anything else as it is). */
function functional(model: tf.LayersModel): tf.LayersModel {
  return model instanceof tf.Sequential
    ? tf.model({ inputs: model.inputs, outputs: model.outputs, name: model.name })
    : model;
}

/**
 * The stock-tfjs form of `model` (see the module doc). Throws
 * {@link ExportLayerError} (one line, naming the layer) for a custom layer
 * with neither a standard form nor a shipped module.
 *
 * @example
 * ```ts
 * const { model: plain, modules } = await standardModel(model);
 * plain.layers.map((l) => l.getClassName()); // stock classes (and those of `modules`)
 * ```
 */
export async function standardModel(model: tf.LayersModel): Promise<StandardModel> {
  const source = functional(model);
  const forms = new Map<string, StandardLayer | null>();
  const modules = new Map<string, LayerModuleSource>();
  const rewritten: Rewritten[] = [];
  try {
    for (const layer of source.layers) {
      const fate = exportFate(layer.name, layer.getClassName());
      if (fate.kind === "module") modules.set(layer.getClassName(), fate.source);
      if (fate.kind !== "form") continue;
      const form = await fate.form(layer);
      forms.set(layer.name, form);
      rewritten.push({
        layer: layer.name,
        from: layer.getClassName(),
        to: form?.className ?? "removed",
      });
    }
    const rewrittenModel = rewriteLayers(source, (spec) => {
      if (!forms.has(spec.name)) return spec;
      const form = forms.get(spec.name);
      if (!form) return null;
      return {
        ...spec,
        className: form.className,
        config: { ...form.config, name: spec.name },
      };
    });
    try {
      for (const [name, form] of forms) {
        if (form?.weights) rewrittenModel.getLayer(name).setWeights(form.weights);
      }
      return { model: await inferenceModel(rewrittenModel), modules, rewritten };
    } finally {
      rewrittenModel.dispose();
    }
  } finally {
    for (const form of forms.values()) if (form?.weights) tf.dispose(form.weights);
  }
}
