/**
 * The `masked_relu` transform: every plain ReLU of a model (a `ReLU` layer
 * without max value / slope / threshold, or an `Activation` layer with
 * activation "relu") becomes a {@link MaskedReLU} of the same name with an
 * all-ones mask, so the new model computes exactly what the old one did.
 * Existing MaskedReLU layers keep their masks. ReLUs fused into a Conv2D or
 * Dense (`activation: "relu"`) are not touched: build models with separate
 * ReLU layers.
 *
 * It is a config-level rewrite (core's `rewriteLayers`): the model's config
 * is edited, a fresh model is built from it and every weight is copied by
 * layer name, so the result shares nothing with the input model (which stays
 * usable) and saves/loads like any tfjs model. Functional models only.
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
  type FlagDefs,
  type LayerSpec,
  type Options,
  readOptions,
  rewriteLayers,
  type tf,
  type Transform,
} from "@shears/core";

function isPlainReLU(l: LayerSpec): boolean {
  const c = l.config;
  if (l.className === "Activation") return c.activation === "relu";
  if (l.className !== "ReLU") return false;
  return c.maxValue == null && !c.negativeSlope && !c.threshold;
}

/**
 * A copy of `model` (functional) whose plain ReLU layers are MaskedReLU
 * layers (masks all ones), except those named in `exclude`.
 */
export function toMaskedReLU(model: tf.LayersModel, exclude: string[] = []): tf.LayersModel {
  const skip = new Set(exclude);
  for (const name of skip) model.getLayer(name); // unknown names fail with tfjs' own message
  return rewriteLayers(model, (l) =>
    isPlainReLU(l) && !skip.has(l.name)
      ? {
        ...l,
        className: "MaskedReLU",
        config: { name: l.name, trainable: l.config.trainable ?? true },
      }
      : l);
}

const maskedReluOptions = {
  exclude: { type: "strings", default: [] as string[], help: "ReLU layers to leave as they are" },
} satisfies FlagDefs;

/** The `masked_relu` transform ({@link toMaskedReLU}). */
export const maskedReluTransform: Transform = {
  description: "plain ReLU layers -> MaskedReLU (mask all ones: the same function, now prunable)",
  options: maskedReluOptions,
  apply(model: tf.LayersModel, options: Options): tf.LayersModel {
    const { exclude } = readOptions(maskedReluOptions, options, "relu_taylor/masked_relu");
    const out = toMaskedReLU(model, exclude);
    if (activationMaskLayers(out).length === 0) {
      throw new Error("masked_relu: the model has no plain ReLU layers to mask");
    }
    return out;
  },
};
