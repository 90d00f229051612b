/**
 * Receding Neuron Importances (Suteu & Guo 2022) and its baselines.
 *
 * Parts (registry names under `rni/`):
 * - transform `sigmoid_bn`: BatchNormalization -> {@link SigmoidBatchNorm}
 *   (scale sigmoid(theta), theta ~ N(0, 1), no beta);
 * - regularizers `rni` (Σ s(1 − log s), s = sigmoid(theta + b); option `b`,
 *   default 3; its parameter groups give SigBN thetas 10x lr and no weight
 *   decay) and `l1` (Σ |gamma|, network slimming); UCS trains with neither;
 * - scorer `bn_scale` (channels: sigmoid(theta) or |gamma| of each prunable BN);
 * - pruners `global_quantile` (RNI, L1) and `local_quantile` (UCS): keep
 *   score > quantile threshold, at least 3 channels per layer, then real
 *   channel removal.
 *
 * @example
 * ```ts
 * import rni, { toSigmoidBatchNorm } from "@shears/rni";
 * const registry = new Registry([rni]);
 * const sig = toSigmoidBatchNorm(model, { seed: 0 });
 * ```
 * @module
 */
import type { Plugin } from "@shears/core";
import { sigmoidBnTransform } from "./transform.ts";
import { l1Regularizer, rniRegularizer } from "./regularizers.ts";
import { bnScaleScorer } from "./scorer.ts";
import { globalQuantilePruner, localQuantilePruner } from "./pruner.ts";

export { SigmoidBatchNorm, type SigmoidBatchNormArgs } from "./sigmoid_bn.ts";
export { type SigmoidBnOptions, sigmoidBnTransform, toSigmoidBatchNorm } from "./transform.ts";
export {
  batchNorms,
  gammaOf,
  l1Loss,
  l1Regularizer,
  rniLoss,
  rniParamGroups,
  rniRegularizer,
  sigmoidBatchNorms,
} from "./regularizers.ts";
export {
  bnScale,
  bnScaleScorer,
  bnScaleScores,
  prunableBatchNorms,
  type PrunableBn,
} from "./scorer.ts";
export {
  globalQuantilePruner,
  keepMasks,
  localQuantilePruner,
  quantile,
  quantilePrune,
  type Scope,
} from "./pruner.ts";

/** The rni plugin. */
const plugin: Plugin = {
  name: "rni",
  description:
    "Receding Neuron Importances: sigmoid BN, RNI / L1 regularizers, quantile BN-scale pruning",
  transforms: { sigmoid_bn: sigmoidBnTransform },
  regularizers: { rni: rniRegularizer, l1: l1Regularizer },
  scorers: { bn_scale: bnScaleScorer },
  pruners: { global_quantile: globalQuantilePruner, local_quantile: localQuantilePruner },
};
export default plugin;
