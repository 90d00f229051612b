/**
 * The sparsity regularisers of the RNI paper, over every batch norm of a model:
 *
 * - `rni`: R = Σ s (1 − log s), s = sigmoid(theta + b), over the thetas of
 *   all SigmoidBatchNorm layers. dR/dθ = −s (1 − s) log s: it vanishes as
 *   s → 0 and s → 1, so importances recede to either end (a bimodal
 *   distribution) instead of all shrinking.
 * - `l1` (network slimming): Σ |gamma| over all BatchNormalization layers.
 *
 * @example
 * ```ts
 * const r = rniLoss(model, 3); // inside a gradient tape
 * ```
 * @module
 */
import { type FlagDefs, type ParamGroup, readOptions, type Regularizer, tf } from "@shears/core";
import { SigmoidBatchNorm } from "./sigmoid_bn.ts";

/** The SigmoidBatchNorm layers of a model, in model order. */
export function sigmoidBatchNorms(model: tf.LayersModel): SigmoidBatchNorm[] {
  return model.layers.filter((l): l is SigmoidBatchNorm => l instanceof SigmoidBatchNorm);
}

/** The BatchNormalization layers of a model (with a gamma), in model order. */
export function batchNorms(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) =>
    l.getClassName() === "BatchNormalization" &&
    l.weights.some((w) => /\/gamma$/.test(w.originalName))
  );
}

/** The gamma variable of a BatchNormalization layer. */
export function gammaOf(layer: tf.layers.Layer): tf.LayerVariable {
  const g = layer.weights.find((w) => /\/gamma$/.test(w.originalName));
  if (!g) throw new Error(`batch norm '${layer.name}' has no gamma (built with scale: false?)`);
  return g;
}

/** Σ s (1 − log s), s = sigmoid(θ + b), over all SigmoidBatchNorm thetas of `model`. */
export function rniLoss(model: tf.LayersModel, b: number): tf.Scalar {
  const layers = sigmoidBatchNorms(model);
  if (layers.length === 0) {
    throw new Error(
      `the rni regularizer needs SigmoidBatchNorm layers; model '${model.name}' has none ` +
        `(apply the rni/sigmoid_bn transform first)`,
    );
  }
  return tf.tidy(() => {
    const z = tf.concat(layers.map((l) => l.theta.read())).add(b);
    const s = tf.sigmoid(z);
    // 1 − log s = 1 + softplus(−z) (tf.logSigmoid's gradient fails under tf.tidy in tfjs 4.22)
    return s.mul(tf.add(1, tf.softplus(z.neg()))).sum() as tf.Scalar;
  });
}

/** Σ |gamma| over all BatchNormalization layers of `model`. */
export function l1Loss(model: tf.LayersModel): tf.Scalar {
  const layers = batchNorms(model);
  if (layers.length === 0) {
    throw new Error(
      `the l1 regularizer needs BatchNormalization layers; model '${model.name}' has none`,
    );
  }
  return tf.tidy(() => tf.concat(layers.map((l) => gammaOf(l).read())).abs().sum() as tf.Scalar);
}

/**
 * The reference's parameter groups: SigmoidBatchNorm weights at 10x lr and
 * no weight decay (none without SigBN layers).
 */
export function rniParamGroups(model: tf.LayersModel): ParamGroup[] {
  const sig = new Set(sigmoidBatchNorms(model).map((l) => l.name));
  if (sig.size === 0) return [];
  return [{
    match: (name) => sig.has(name.slice(0, name.lastIndexOf("/"))),
    lrMult: 10,
    weightDecay: false,
  }];
}

const rniOptions = {
  b: {
    type: "number",
    default: 3,
    help: "shift b in s = sigmoid(theta + b) (the paper: 0 for ResNets)",
  },
} satisfies FlagDefs;

/**
 * The RNI regulariser; its parameter groups give the SigmoidBatchNorm
 * thetas 10x the learning rate and no weight decay ({@link rniParamGroups}).
 */
export const rniRegularizer: Regularizer = {
  description: "RNI: sum of s(1 - log s), s = sigmoid(theta + b), over SigmoidBatchNorm scales",
  options: rniOptions,
  loss: (model, options) => rniLoss(model, readOptions(rniOptions, options, "rni/rni").b),
  paramGroups: (model) => rniParamGroups(model),
};

/** The network-slimming L1 regulariser on BatchNormalization gammas. */
export const l1Regularizer: Regularizer = {
  description: "L1 (network slimming): sum of |gamma| over BatchNormalization layers",
  loss: (model) => l1Loss(model),
};
