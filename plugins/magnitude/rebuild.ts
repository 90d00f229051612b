/**
 * A config-level layer rewrite: rebuild a functional model from its config
 * with some layers' class or config changed, and copy every weight over
 * (weights keep their names, e.g. `conv1/kernel`). The input model is left
 * as it was. (Kept local until core grows a shared rewrite helper.)
 *
 * @example
 * ```ts
 * const relu6 = rewriteLayers(model, (l) =>
 *   l.className === "ReLU" ? { ...l, config: { ...l.config, maxValue: 6 } } : l);
 * ```
 * @module
 */
import { tf } from "@shears/core";

/** One layer of a model config. */
export interface LayerSpec {
  className: string;
  config: Record<string, unknown>;
}

/** Rebuilds `model` with `edit` applied to every layer's class and config. */
export function rewriteLayers(
  model: tf.LayersModel,
  edit: (layer: LayerSpec) => LayerSpec,
): tf.LayersModel {
  const cfg = model.getConfig() as unknown as { layers: LayerSpec[] };
  cfg.layers = cfg.layers.map((l) => ({
    ...l,
    ...edit({ className: l.className, config: l.config }),
  }));
  const rebuilt = tf.LayersModel.fromConfig(
    tf.LayersModel,
    cfg as unknown as tf.serialization.ConfigDict,
  ) as tf.LayersModel;
  rebuilt.setWeights(model.getWeights());
  return rebuilt;
}
