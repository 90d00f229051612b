/**
 * The `masked_relu` transform: every plain ReLU of a model (a `ReLU` layer
 * without max value / slope / threshold, or an `Activation` layer with
 * activation "relu") becomes a {@link MaskedReLU} of the same name with an
 * all-ones mask, so the new model computes exactly what the old one did.
 * Existing MaskedReLU layers keep their masks. ReLUs fused into a Conv2D or
 * Dense (`activation: "relu"`) are not touched: build models with separate
 * ReLU layers.
 *
 * It is a config-level rewrite: the model's config is edited, a fresh model
 * is built from it and every weight is copied by layer name, so the result
 * shares nothing with the input model (which stays usable) and saves/loads
 * like any tfjs model.
 *
 * @example
 * ```ts
 * const student = toMaskedReLU(model);
 * activationMaskLayers(student).length; // number of ReLU layers of `model`
 * ```
 * @module
 */
import {
  activationMaskLayers,
  type MaskedReLU,
  type Options,
  tf,
  type Transform,
} from "@shears/core";

interface LayerConfig {
  className: string;
  config: Record<string, unknown>;
}

function isPlainReLU(l: LayerConfig): boolean {
  const c = l.config;
  if (l.className === "Activation") return c.activation === "relu";
  if (l.className !== "ReLU") return false;
  return c.maxValue == null && !c.negativeSlope && !c.threshold;
}

type FromConfig = (
  cls: unknown,
  config: unknown,
  customObjects: Record<string, never>,
  fastWeightInit: boolean,
) => tf.LayersModel;

/**
 * A copy of `model` whose plain ReLU layers are MaskedReLU layers (masks all
 * ones), except those named in `exclude`.
 */
export function toMaskedReLU(model: tf.LayersModel, exclude: string[] = []): tf.LayersModel {
  const skip = new Set(exclude);
  for (const name of skip) model.getLayer(name); // unknown names fail with tfjs' own message
  const config = structuredClone(model.getConfig()) as unknown as { layers: LayerConfig[] };
  const replaced = new Set<string>();
  for (const l of config.layers) {
    const name = l.config.name as string;
    if (!isPlainReLU(l) || skip.has(name)) continue;
    l.className = "MaskedReLU";
    l.config = {
      name,
      trainable: l.config.trainable ?? true,
      ...(l.config.batchInputShape ? { batchInputShape: l.config.batchInputShape } : {}),
      ...(l.config.dtype ? { dtype: l.config.dtype } : {}),
    };
    replaced.add(name);
  }
  const cls = model instanceof tf.Sequential ? tf.Sequential : tf.LayersModel;
  const out = (cls as unknown as { fromConfig: FromConfig }).fromConfig(cls, config, {}, true);
  // fastWeightInit zero-fills new weights: every weight is set below.
  for (const layer of out.layers) {
    if (replaced.has(layer.name)) {
      tf.tidy(() => (layer as MaskedReLU).setMask(tf.ones(layer.weights[0].shape as number[])));
      continue;
    }
    const weights = model.getLayer(layer.name).getWeights();
    if (weights.length) layer.setWeights(weights);
  }
  return out;
}

function excludeOption(options: Options): string[] {
  const v = options.exclude ?? [];
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v;
  throw new Error(`masked_relu: exclude must be layer names (array or comma list), got ${v}`);
}

/** The `masked_relu` transform ({@link toMaskedReLU}); option `exclude`: layer names to leave as ReLU. */
export const maskedReluTransform: Transform = {
  description: "plain ReLU layers -> MaskedReLU (mask all ones: the same function, now prunable)",
  apply(model: tf.LayersModel, options: Options): tf.LayersModel {
    const out = toMaskedReLU(model, excludeOption(options));
    if (activationMaskLayers(out).length === 0) {
      throw new Error("masked_relu: the model has no plain ReLU layers to mask");
    }
    return out;
  },
};
