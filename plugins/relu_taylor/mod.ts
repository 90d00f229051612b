/**
 * relu_taylor — ReLUPruner (Li et al., AAAI 2026): keep only a budget of
 * ReLU elements, a removed ReLU becoming the identity. Parts:
 *
 * - transform `masked_relu`: plain ReLU layers -> MaskedReLU ({@link toMaskedReLU})
 * - scorers `taylor` (first + second order Taylor, layer-weighted, EMA),
 *   `first_order`, `second_order`, and baselines `activation`, `random`
 * - pruner `global_topk`: one global top-k over all ReLU elements
 * - training callback `progressive`: the schedule ({@link keepRatioAt},
 *   {@link updateIntervalAt}) and the per-batch {@link MaskController}
 * - regularizer `attention`: the fine-tune's attention transfer
 *   ({@link attentionLoss}, {@link featureModel})
 *
 * @example
 * ```ts
 * import reluTaylor, { maskController } from "@shears/relu_taylor";
 * ctx.model = await reluTaylor.transforms!.masked_relu.apply(model, {});
 * const session = reluTaylor.scorers!.taylor.start(ctx, {});
 * const controller = maskController(ctx, session, reluTaylor.pruners!.global_topk, {
 *   epochs: 150, target: 0.1,
 * });
 * ```
 * @module
 */
import type { Plugin } from "@shears/core";
import { maskedReluTransform } from "./to_masked_relu.ts";
import { taylorScorer } from "./taylor.ts";
import { activationScorer, randomScorer } from "./baselines.ts";
import { globalTopk } from "./global_topk.ts";
import { progressiveCallback } from "./controller.ts";
import { attentionRegularizer } from "./attention.ts";

export { maskedReluTransform, toMaskedReLU } from "./to_masked_relu.ts";
export {
  FISHER_MOMENTUM,
  maskLayersOf,
  type TaylorConfig,
  taylorConfig,
  taylorOptions,
  taylorScorer,
  TaylorSession,
  type TaylorTerms,
} from "./taylor.ts";
export { LayerWeights } from "./layer_weights.ts";
export { type GradAt, LayerTaps, type PairSink } from "./layer_taps.ts";
export { LayerEma } from "./ema.ts";
export { activationScorer, ActivationSession, randomScorer, RandomSession } from "./baselines.ts";
export { applyGlobalTopk, globalTopk, topkMask } from "./global_topk.ts";
export {
  checkSchedule,
  keepRatioAt,
  type KeepSchedule,
  targetEpoch,
  updateIntervalAt,
} from "./schedule.ts";
export {
  type ControllerOptions,
  MaskController,
  maskController,
  type MaskUpdate,
  progressiveCallback,
} from "./controller.ts";
export {
  attentionLoss,
  attentionMap,
  attentionRegularizer,
  featureModel,
  layerOutputIn,
} from "./attention.ts";

/** The relu_taylor plugin. */
const reluTaylor: Plugin = {
  name: "relu_taylor",
  description: "ReLUPruner: Taylor importance of ReLU elements, progressive global ReLU removal",
  transforms: { masked_relu: maskedReluTransform },
  scorers: {
    taylor: taylorScorer("both"),
    first_order: taylorScorer("first"),
    second_order: taylorScorer("second"),
    activation: activationScorer,
    random: randomScorer,
  },
  pruners: { global_topk: globalTopk },
  callbacks: { progressive: progressiveCallback },
  regularizers: { attention: attentionRegularizer },
};
export default reluTaylor;
