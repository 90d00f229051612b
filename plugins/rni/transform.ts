/**
 * The `sigmoid_bn` transform: every BatchNormalization layer becomes a
 * {@link SigmoidBatchNorm} with the same name, epsilon and momentum (over the
 * channel axis, however the BN spells it: -1, or 3 / [3] as Keras saves NHWC). The
 * moving statistics are copied; theta is drawn from N(0, 1) (gamma and beta
 * are dropped), as the RNI reference builds its SigBN models.
 *
 * @example
 * ```ts
 * const sig = toSigmoidBatchNorm(model, { seed: 0 });
 * ```
 * @module
 */
import {
  type FlagDefs,
  readOptions,
  resolveAxis,
  rewriteLayers,
  Rng,
  type tf,
  type Transform,
} from "@shears/core";
import "./sigmoid_bn.ts";

/** Options of {@link toSigmoidBatchNorm}. */
export interface SigmoidBnOptions {
  /** Seed for the thetas' N(0, 1) draws (one derived seed per layer); omitted = unseeded. */
  seed?: number;
}

/** A copy of `model` with every BatchNormalization replaced by a SigmoidBatchNorm. */
export function toSigmoidBatchNorm(
  model: tf.LayersModel,
  options: SigmoidBnOptions = {},
): tf.LayersModel {
  const rng = options.seed === undefined ? undefined : new Rng(options.seed);
  let found = 0;
  const out = rewriteLayers(model, (spec) => {
    if (spec.className !== "BatchNormalization") return spec;
    found++;
    const c = spec.config;
    // the channel axis however it is spelled: -1, or 3 / [3] (Keras' NHWC), 1 after a Dense
    const rank = (model.getLayer(spec.name).outputShape as number[]).length;
    if (resolveAxis(c.axis ?? -1, rank) !== rank - 1) {
      throw new Error(
        `batch norm '${spec.name}' normalizes axis ${
          JSON.stringify(c.axis)
        }, not the channel axis (the last); SigmoidBatchNorm needs the channel axis`,
      );
    }
    const config: Record<string, unknown> = {
      name: spec.name,
      trainable: c.trainable ?? true,
      epsilon: c.epsilon,
      momentum: c.momentum,
      axis: -1,
    };
    if (rng) config.seed = rng.int(2 ** 31);
    return { ...spec, className: "SigmoidBatchNorm", config };
  });
  if (found === 0) {
    out.dispose();
    throw new Error(
      `model '${model.name}' has no BatchNormalization layer to turn into SigmoidBatchNorm`,
    );
  }
  return out;
}

const sigmoidBnOptions = {
  seed: { type: "int", help: "seed of the thetas' N(0, 1) draws (default unseeded)" },
} satisfies FlagDefs;

/** The transform as the plugin registers it. */
export const sigmoidBnTransform: Transform = {
  description:
    "BatchNormalization -> SigmoidBatchNorm (scale sigmoid(theta), theta ~ N(0,1), no beta)",
  options: sigmoidBnOptions,
  apply: (model, options) =>
    toSigmoidBatchNorm(model, readOptions(sigmoidBnOptions, options, "rni/sigmoid_bn")),
};
